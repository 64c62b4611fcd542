// finetune_command.h — `cellcam finetune MODEL DATA`: CLI11 options onto cellcam::train::FinetuneSettings.
#pragma once

#include "finetune.h"

namespace CLI {
class App;
}

namespace cellcam::cli {

void add_finetune_command(CLI::App& app, train::FinetuneSettings& settings);

}  // namespace cellcam::cli
