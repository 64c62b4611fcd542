// metrics_json.h — Metrics (metrics.h) as the JSON block report.json, eval.json and ensemble.json hold:
// loss, accuracy, ROC/PR areas, macro and weighted averages, per-class rows and the confusion matrix.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "metrics.h"

namespace cellcam::train {

nlohmann::json metrics_json(const Metrics& m, const std::vector<std::string>& classes, double loss);

}  // namespace cellcam::train
