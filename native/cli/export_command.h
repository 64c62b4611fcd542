// export_command.h — `cellcam export`: CLI11 options onto cellcam::explain::ExportSettings.
#pragma once

#include "export_model.h"

namespace CLI {
class App;
}

namespace cellcam::cli {

void add_export_command(CLI::App& app, explain::ExportSettings& settings);

}  // namespace cellcam::cli
