// calibration.h — how far to trust a model's numbers: bootstrap confidence intervals of the held-out
// metrics, and calibration (expected calibration error, reliability diagram bins) of its probabilities.
//
// Inputs as metrics.h: N rows of C class probabilities and the true labels. Binary models put the
// positive class in column 1 and decide with `threshold`; multi-class models take the argmax.
// Pure C++17, no LibTorch; deterministic for a given seed.
#pragma once

#include <cstdint>
#include <vector>

#include "cellcam/error.h"

namespace cellcam::train {

struct Interval {
  double lo = 0.0, hi = 0.0;
};

// 95% percentile intervals over `resamples` bootstrap resamples of the N samples (with replacement).
// A resample where a metric is undefined (e.g. ROC-AUC with one class) is left out of that metric.
struct BootstrapIntervals {
  int resamples = 0;
  Interval accuracy, roc_auc, macro_f1;
  Interval sensitivity, specificity;  // binary only (class 1 is positive); zero-width otherwise
};
Result<BootstrapIntervals> bootstrap_intervals(const std::vector<std::vector<float>>& probs, const std::vector<int>& labels,
                                               double threshold, int resamples = 1000, std::uint64_t seed = 42);

// Top-1 confidence against top-1 accuracy in `bins` equal-width bins on [0,1] (the last bin includes 1).
// ECE = sum_b (n_b / N) |accuracy_b - confidence_b|. For binary models the predicted class follows the
// argmax (threshold 0.5), as calibration is a property of the probabilities, not of the operating point.
struct CalibrationBin {
  double lo = 0.0, hi = 0.0;
  long long count = 0;
  double confidence = 0.0;  // mean top-1 probability in the bin (0 when empty)
  double accuracy = 0.0;    // share correct in the bin (0 when empty)
};
struct Calibration {
  double ece = 0.0;
  double max_gap = 0.0;  // MCE over non-empty bins
  std::vector<CalibrationBin> bins;
};
Result<Calibration> calibration(const std::vector<std::vector<float>>& probs, const std::vector<int>& labels, int bins = 15);

}  // namespace cellcam::train
