// split_command.h — `cellcam split`: CLI11 options onto cellcam::data::SplitSettings.
#pragma once

#include "split_file.h"

namespace CLI {
class App;
}

namespace cellcam::cli {

void add_split_command(CLI::App& app, data::SplitSettings& settings);

}  // namespace cellcam::cli
