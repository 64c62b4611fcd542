// ensemble_command.h — `cellcam ensemble`: CLI11 options onto cellcam::train::EnsembleSettings.
#pragma once

#include "ensemble_run.h"

namespace CLI {
class App;
}

namespace cellcam::cli {

void add_ensemble_command(CLI::App& app, train::EnsembleSettings& settings);

}  // namespace cellcam::cli
