// metrics.h — evaluation metrics for the trainer's classifiers: confusion matrix, per-class
// precision/recall/specificity/F1, ROC and PR areas, and operating thresholds for binary models.
//
// Inputs are what a model produces for N samples: `probs` is N rows of C class probabilities
// (softmax; for a binary model C == 2 and column 1 is the positive class, i.e. {1 - p, p} for a sigmoid
// p) and `labels` holds the true class of each row, 0..C-1. Invalid input (no samples, ragged rows,
// C < 2, labels out of range, NaN scores) is an Error, never an exception or an abort.
//
// The curves follow scikit-learn so numbers can be checked against a Python notebook: roc_curve as
// sklearn.metrics.roc_curve(drop_intermediate=False), average_precision as average_precision_score.
// Samples with equal scores form one threshold step; a sample counts as positive when score >= threshold.
// Pure C++17, no LibTorch; deterministic (stable sorts, counts kept as integers).
#pragma once

#include <vector>

#include "cellcam/error.h"

namespace cellcam::train {

struct ConfusionMatrix {
  int classes = 0;
  std::vector<long long> counts;  // classes x classes, row-major, rows = true class, columns = predicted

  // 0 for a class outside [0, classes): a lookup never aborts.
  long long at(int truth, int predicted) const;
};

// One class against the rest. A ratio whose denominator is 0 (e.g. precision of a class never
// predicted) is defined as 0, as sklearn's zero_division=0.
struct ClassMetrics {
  double precision = 0.0;
  double recall = 0.0;  // = sensitivity
  double specificity = 0.0;
  double f1 = 0.0;
  long long support = 0;  // samples whose true class is this one; for macro/weighted: all samples
};

struct RocCurve {
  // Point 0 is (0,0) at threshold +infinity (nothing predicted positive); then one point per distinct
  // score, thresholds descending; the last point is (1,1) at the lowest score.
  std::vector<double> fpr;
  std::vector<double> tpr;
  std::vector<double> thresholds;
};

// `positive[i]` is 1 when sample i belongs to the positive class, else 0. Both curves need at least
// one positive and one negative sample (otherwise a rate is 0/0).
Result<RocCurve> roc_curve(const std::vector<float>& scores, const std::vector<int>& positive);

// Area under roc_curve by the trapezoid rule; equal to the Mann–Whitney U statistic / (P*N) with a tied
// positive/negative pair counting 1/2, so all-equal scores give exactly 0.5.
Result<double> roc_auc(const std::vector<float>& scores, const std::vector<int>& positive);

// PR-AUC as sklearn's average_precision_score: sum over thresholds of (R_n - R_(n-1)) * P_n. Needs at
// least one positive; with no negatives it is 1.
Result<double> average_precision(const std::vector<float>& scores, const std::vector<int>& positive);

// The decision every report uses: binary, P(class 1) >= threshold; multi-class, the argmax (the lowest
// index on ties).
int predicted_class(const std::vector<float>& row, double threshold);
// Per row, 1 when predicted_class is the label, else 0: what the referral curves rank.
std::vector<int> correct_decisions(const std::vector<std::vector<float>>& probs, const std::vector<int>& labels, double threshold);

struct Metrics {
  double accuracy = 0.0;
  std::vector<ClassMetrics> per_class;  // C entries
  ClassMetrics macro;                   // unweighted mean over classes (macro F1 = mean of per-class F1)
  ClassMetrics weighted;                // mean weighted by each class's support
  ConfusionMatrix confusion;
  // Binary: column 1 vs label 1. Multi-class: the macro mean of the one-vs-rest per-class values.
  double roc_auc = 0.0;
  double pr_auc = 0.0;
  // One-vs-rest per class, scored by that class's column (binary included: class 0 uses column 0).
  // NaN where a class is undefined (it has no samples, or — for ROC — every sample is of that class);
  // the macro means skip NaN entries and are NaN only when no class is defined.
  std::vector<double> per_class_roc_auc;
  std::vector<double> per_class_pr_auc;
};

// Predicted class: binary (C == 2): 1 when probs[i][1] >= threshold (the float score compared as a
// double); multi-class: argmax, lowest index on ties (threshold unused).
Result<Metrics> compute_metrics(const std::vector<std::vector<float>>& probs, const std::vector<int>& labels,
                                double threshold = 0.5);

// A threshold on the positive score and how the binary classifier performs at it. The threshold is
// always one of the observed scores, so `score >= threshold` reproduces the rates exactly.
struct OperatingPoint {
  double threshold = 0.0;
  double sensitivity = 0.0;  // TPR
  double specificity = 0.0;  // 1 - FPR
};

// Maximises Youden's J = TPR - FPR over the ROC thresholds; equal J goes to the higher threshold.
Result<OperatingPoint> youden_threshold(const std::vector<float>& scores, const std::vector<int>& positive);

// The highest threshold whose sensitivity is >= target (target in [0, 1]); a screening model that must
// miss few positives is tuned this way, trading specificity.
Result<OperatingPoint> threshold_for_sensitivity(const std::vector<float>& scores, const std::vector<int>& positive,
                                                 double target);

}  // namespace cellcam::train
