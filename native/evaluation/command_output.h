// command_output.h — what eval, calibrate and predict print and write the same way: error lines, numbers
// as text, the confusion matrix on stdout and reliability-diagram series. No LibTorch.
#pragma once

#include <string>
#include <vector>

#include "calibration.h"
#include "cellcam/error.h"
#include "metrics.h"
#include "plot.h"

namespace cellcam::train {

// Prints "cellcam COMMAND: message" on stderr; returns 1 (the usage/setup exit code).
int fail(const char* command, const Error& e);
// "a, b, c"
std::string join(const std::vector<std::string>& items);
// A probability in CSV: %.6g.
std::string probability_text(double p);
// A metric for stdout: %.4f, or why it is undefined (NaN: e.g. ROC-AUC on data of a single class).
std::string metric_text(double v);
// A reliability diagram's points (the non-empty bins), labelled "<name> (ECE x)".
report::Series reliability_series(const Calibration& c, const std::string& name);
// The confusion matrix as an aligned table (rows: true class, columns: predicted).
std::string confusion_text(const Metrics& m, const std::vector<std::string>& classes);

}  // namespace cellcam::train
