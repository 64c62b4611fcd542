// ensemble.h — combining the class probabilities of several models (or of several views of one image):
// soft voting, stacking with a logistic-regression meta-model, and how much the members disagree.
//
// Shapes: a member's predictions are (N,K) rows of class probabilities for the same N images in the same
// order; `members` is (M,N,K). Binary models put the positive class in column 1 (metrics.h).
// Pure C++17, no LibTorch: `cellcam ensemble` (evaluation/ensemble_run.cpp) feeds it LibTorch predictions and
// the page (web/js/ensemble.js) applies the same formulas to ONNX Runtime's.
// Constraint: the meta-model is fitted on validation predictions only, never on the split it is
// scored on; the functions here cannot know, the command enforces it.
#pragma once

#include <string>
#include <vector>

#include "cellcam/error.h"

namespace cellcam::train {

using ProbabilityTable = std::vector<std::vector<float>>;  // (N,K)

// Ensemble weights normalised to sum 1 (empty: equal), or a clear error: a count other than m, a
// negative or non-finite weight, or all zero. What soft_vote applies; callers check --weights up front.
Result<std::vector<double>> normalised_weights(const std::vector<double>& weights, std::size_t m);

// Weighted mean of the members' probabilities, weights normalised to sum 1 (empty: equal weights).
// (M,N,K) -> (N,K).
Result<ProbabilityTable> soft_vote(const std::vector<ProbabilityTable>& members, const std::vector<double>& weights = {});

// How much the members disagree on each image: the weighted mean total-variation distance between each
// member's probabilities and the soft vote, 0.5 * sum_k |p_mk - mean_k|. 0 when they agree exactly, at
// most 1. Binary: the weighted mean |P_m(positive) - mean P(positive)|. (M,N,K) -> (N).
Result<std::vector<double>> disagreement(const std::vector<ProbabilityTable>& members, const std::vector<double>& weights = {});

// ---- stacking: a logistic regression on the members' probabilities (Wolpert, 1992; the seed blog's
// LogisticRegression meta-model). Features per image: binary, the logit of each member's P(positive);
// multi-class, the log of each member's K probabilities (probabilities clamped to [1e-6, 1 - 1e-6]).
// Binary: one output, P(positive) = sigmoid(w.x + b). Multi-class: K outputs, softmax.
// Fitted by Newton's method on the mean log-loss + l2/2 * |w|^2 (intercepts too, at l2 * 1e-4, which only
// pins down the softmax's free constant); l2 = 1/N is scikit-learn's default C = 1.
struct StackingModel {
  bool binary = true;
  int members = 0;
  int classes = 0;
  std::vector<std::vector<double>> weights;  // (outputs, features): outputs = 1 binary, K multi-class
  std::vector<double> intercepts;            // (outputs)
  double l2 = 0.0;
  int iterations = 0;
  double loss = 0.0;                         // the fitted objective (mean log-loss + penalty)
  bool converged = false;
};

// (M,N,K) -> (N,F): F = M binary, M*K multi-class.
std::vector<std::vector<double>> stacking_features(const std::vector<ProbabilityTable>& members, bool binary);

// l2 < 0: 1 / N.
Result<StackingModel> fit_stacking(const std::vector<ProbabilityTable>& members, const std::vector<int>& labels, bool binary,
                                   double l2 = -1.0, int max_iterations = 100);

// The meta-model's class probabilities: (M,N,K) -> (N,K).
Result<ProbabilityTable> apply_stacking(const StackingModel& model, const std::vector<ProbabilityTable>& members);

// Mean log-loss + penalty of `model` on these predictions (what fit_stacking minimises).
double stacking_objective(const StackingModel& model, const std::vector<ProbabilityTable>& members, const std::vector<int>& labels);

// ---- referral by any uncertainty score (higher: less certain)
struct ReferralCutoff {
  double cutoff = 1.0;          // refer when score >= cutoff (above every score: refer nothing)
  double referred_share = 0.0;
  double kept_accuracy = 0.0;
  bool reached = false;
};
// The cutoff referring the fewest images whose kept images reach `target_accuracy`, referring at most
// `max_rate`; when the target is out of reach, the best kept accuracy within max_rate (reached = false).
// correct: 1 where the decision was right.
Result<ReferralCutoff> choose_referral_cutoff(const std::vector<double>& scores, const std::vector<int>& correct,
                                              double target_accuracy, double max_rate);
// Share referred (score >= cutoff) and accuracy on the rest.
ReferralCutoff apply_referral_cutoff(const std::vector<double>& scores, const std::vector<int>& correct, double cutoff);
// Accuracy on the rest as the `rate` highest-scoring images are referred, rate = 0, step, ..., max_rate:
// (rate, accuracy) pairs.
std::vector<std::pair<double, double>> referral_curve_by_score(const std::vector<double>& scores, const std::vector<int>& correct,
                                                                double max_rate = 0.5, double step = 0.02);

}  // namespace cellcam::train
