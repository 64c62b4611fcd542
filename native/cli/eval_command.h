// eval_command.h — `cellcam eval` and `cellcam calibrate`: CLI11 options onto their settings (evaluate.h).
#pragma once

#include "evaluate.h"

namespace CLI {
class App;
}

namespace cellcam::cli {

void add_eval_command(CLI::App& app, train::EvalSettings& settings);
void add_calibrate_command(CLI::App& app, train::CalibrateSettings& settings);

}  // namespace cellcam::cli
