// gradcam_command.h — `cellcam gradcam`: CLI11 options onto cellcam::explain::GradcamSettings.
#pragma once

#include "gradcam_images.h"

namespace CLI {
class App;
}

namespace cellcam::cli {

void add_gradcam_command(CLI::App& app, explain::GradcamSettings& settings);

}  // namespace cellcam::cli
