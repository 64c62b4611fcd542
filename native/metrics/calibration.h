// calibration.h — how far to trust a model's numbers: bootstrap confidence intervals of the held-out
// metrics, calibration (expected calibration error, reliability diagram bins) of its probabilities, and
// temperature scaling (Guo et al., 2017) to make them calibrated.
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

// ---- temperature scaling: p = sigmoid(z / T) (binary, one logit per row) or softmax(z / T) (C logits).
// One scalar: it never changes which class wins, nor the order of the scores (so nor ROC-AUC).

// Class probabilities (N,C) of logits (N,1) binary or (N,C) multi-class at temperature T > 0.
std::vector<std::vector<float>> probabilities_at(const std::vector<std::vector<float>>& logits, bool binary, double temperature);

// Mean negative log-likelihood of the labels under probabilities_at(logits, binary, T), in double.
double mean_nll(const std::vector<std::vector<float>>& logits, const std::vector<int>& labels, bool binary, double temperature);

// The T minimising mean_nll over [0.05, 20]: golden-section search on 1/T, where the NLL is convex.
// Fit it on validation predictions, never on test.
Result<double> fit_temperature(const std::vector<std::vector<float>>& logits, const std::vector<int>& labels, bool binary);

// A binary threshold on P(positive) at T = 1 moved to the same decision boundary at temperature T:
// sigmoid(logit(threshold) / T). Decisions are unchanged.
double threshold_at(double threshold, double temperature);

// threshold_at for the images it was chosen on. The trainer's threshold is one of the validation scores
// (metrics.h), and that image's calibrated score, rounded to float, can land a hair under
// threshold_at(threshold, T) and flip (seen: malaria v0.4.0, validation 93.41% -> 93.33%). This moves the
// threshold a little under the smallest calibrated score of the images at or above `threshold` (1e-6, so
// other float paths to the same score agree) but not under the middle of the gap to the images below, so
// every decision on these images stays as it was. raw / calibrated: (N,2) probabilities at T = 1 and T.
double threshold_keeping_decisions(const std::vector<std::vector<float>>& raw, const std::vector<std::vector<float>>& calibrated,
                                   double threshold, double temperature);

// ---- uncertainty and referral: send the least certain images to a person, classify the rest.

// 0 (certain) .. 1 (on the decision boundary). Binary, threshold t on P(positive) = probs[1]:
// 1 - |p - t| / (t if p < t else 1 - t). Multi-class: 1 - top-1 probability.
double uncertainty(const std::vector<float>& probs, double threshold, bool binary);

// Accuracy on the images kept when the `rate` most uncertain are referred, rate = 0, 0.02, ..., max_rate.
struct ReferralPoint {
  double rate = 0.0;       // share referred
  double accuracy = 0.0;   // accuracy on the rest
  long long kept = 0;
};
std::vector<ReferralPoint> referral_curve(const std::vector<std::vector<float>>& probs, const std::vector<int>& labels,
                                          double threshold, bool binary, double max_rate = 0.5, double step = 0.02);

// The review band the page flags (model.json "review_band"): refer when the score lies in [lo, hi], the
// score being P(positive) for binary models and the top-1 probability for multi-class ones. Chosen on
// validation as the narrowest band (fewest referrals) whose kept images reach `target_accuracy`, referring
// at most `max_rate` of them; `reached` says whether the target was met within that budget.
struct ReviewBand {
  double lo = 0.0, hi = 0.0;
  double cutoff = 1.0;           // refer when uncertainty >= cutoff
  double referred_share = 0.0;   // on the data it was chosen on
  double kept_accuracy = 0.0;
  double target_accuracy = 0.0;
  bool reached = false;
};
Result<ReviewBand> choose_review_band(const std::vector<std::vector<float>>& probs, const std::vector<int>& labels,
                                      double threshold, bool binary, double target_accuracy, double max_rate = 0.5);
// The band of an uncertainty cutoff, as above.
ReviewBand band_for_cutoff(double cutoff, double threshold, bool binary);
// Share referred and accuracy on the rest for a band, on any data (e.g. the test split).
ReviewBand apply_review_band(const std::vector<std::vector<float>>& probs, const std::vector<int>& labels, double threshold,
                             bool binary, double lo, double hi);

}  // namespace cellcam::train
