// train_command.h — `cellcam train`: CLI11 options onto cellcam::train::TrainSettings.
#pragma once

#include "trainer.h"

namespace CLI {
class App;
}

namespace cellcam::cli {

void add_train_command(CLI::App& app, train::TrainSettings& settings);

}  // namespace cellcam::cli
