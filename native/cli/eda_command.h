// eda_command.h — `cellcam eda`: CLI11 options onto cellcam::eda::EdaSettings.
#pragma once

#include "eda.h"

namespace CLI {
class App;
}

namespace cellcam::cli {

void add_eda_command(CLI::App& app, eda::EdaSettings& settings);

}  // namespace cellcam::cli
