// preprocess_command.h — `cellcam preprocess`: CLI11 options onto cellcam::native::PreprocessSettings.
#pragma once

#include "preprocess_files.h"

namespace CLI {
class App;
}

namespace cellcam::cli {

void add_preprocess_command(CLI::App& app, native::PreprocessSettings& settings);

}  // namespace cellcam::cli
