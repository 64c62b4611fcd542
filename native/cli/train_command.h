// train_command.h — `cellcam train`: CLI11 options onto cellcam::train::TrainSettings.
#pragma once

#include "trainer.h"

namespace CLI {
class App;
}

namespace cellcam::cli {

void add_train_command(CLI::App& app, train::TrainSettings& settings);
// Shared with `cellcam finetune`: the training options (schedule, loss, split, machine), and the range checks.
void add_training_options(CLI::App* cmd, train::TrainSettings& settings);
void add_range_checks(CLI::App* cmd);

}  // namespace cellcam::cli
