// eval_command.h — `cellcam eval`: CLI11 options onto cellcam::train::EvalSettings.
#pragma once

#include "eval.h"

namespace CLI {
class App;
}

namespace cellcam::cli {

void add_eval_command(CLI::App& app, train::EvalSettings& settings);

}  // namespace cellcam::cli
