// calibrate_command.h — `cellcam calibrate`: CLI11 options onto cellcam::train::CalibrateSettings.
#pragma once

#include "calibrate.h"

namespace CLI {
class App;
}

namespace cellcam::cli {

void add_calibrate_command(CLI::App& app, train::CalibrateSettings& settings);

}  // namespace cellcam::cli
