// predict_command.h — `cellcam predict`: CLI11 options onto cellcam::train::PredictSettings.
#pragma once

#include "predict.h"

namespace CLI {
class App;
}

namespace cellcam::cli {

void add_predict_command(CLI::App& app, train::PredictSettings& settings);

}  // namespace cellcam::cli
