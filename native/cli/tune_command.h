// tune_command.h — `cellcam tune`: CLI11 options onto cellcam::tune::TuneSettings, and the bridge that lets
// the tune library check a search space against `cellcam train`'s own parser.
#pragma once

#include "tune.h"

namespace CLI {
class App;
}

namespace cellcam::cli {

void add_tune_command(CLI::App& app, tune::TuneSettings& settings);
// Runs the search with this binary as the trainer; prints errors; returns the exit code.
int run_tune_command(const tune::TuneSettings& settings);

}  // namespace cellcam::cli
