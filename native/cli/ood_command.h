// ood_command.h — `cellcam ood`: CLI11 options onto cellcam::explain::OodSettings.
#pragma once

#include "ood_model.h"

namespace CLI {
class App;
}

namespace cellcam::cli {

void add_ood_command(CLI::App& app, explain::OodSettings& settings);

}  // namespace cellcam::cli
