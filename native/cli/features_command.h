// features_command.h — `cellcam features`: CLI11 options onto cellcam::explain::FeaturesSettings.
#pragma once

#include "feature_maps.h"

namespace CLI {
class App;
}

namespace cellcam::cli {

void add_features_command(CLI::App& app, explain::FeaturesSettings& settings);

}  // namespace cellcam::cli
