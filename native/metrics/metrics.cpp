// metrics.cpp — classifier metrics; the definitions (sklearn-compatible curves, 0/0 = 0) are in metrics.h.
//
// Everything that can be counted is counted in integers (confusion cells, cumulative TP/FP per
// threshold), and a rate is formed by one division at the end: results are exact up to that rounding
// and do not depend on summation order. Sorting is stable, so equal inputs give equal outputs.
#include "metrics.h"

#include "cellcam/decision.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <limits>
#include <numeric>
#include <string>

namespace cellcam::train {
namespace {

constexpr double kUndefined = std::numeric_limits<double>::quiet_NaN();

Error invalid(std::string message) { return make_error(ErrorCode::kInvalidArgument, std::move(message)); }

std::string format(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%g", value);
  return buffer;
}

double ratio(long long numerator, long long denominator) {
  return denominator == 0 ? 0.0 : static_cast<double>(numerator) / static_cast<double>(denominator);
}

// Cumulative counts after admitting every sample whose score is >= each distinct score, highest first.
// This is the one pass over sorted scores that ROC, PR and the operating points all read.
struct ThresholdSteps {
  std::vector<double> thresholds;
  std::vector<long long> true_positives;
  std::vector<long long> false_positives;
  long long positives = 0;
  long long negatives = 0;
};

Result<bool> check_binary_input(const std::vector<float>& scores, const std::vector<int>& positive) {
  if (scores.empty()) return invalid("no samples");
  if (scores.size() != positive.size())
    return invalid(std::to_string(scores.size()) + " scores but " + std::to_string(positive.size()) + " labels");
  for (std::size_t i = 0; i < scores.size(); ++i) {
    if (positive[i] != 0 && positive[i] != 1)
      return invalid("label at index " + std::to_string(i) + " is " + std::to_string(positive[i]) +
                     "; binary labels must be 0 or 1");
    // NaN has no place in an ordering; sorting with it would be undefined behaviour.
    if (std::isnan(scores[i])) return invalid("score at index " + std::to_string(i) + " is NaN");
  }
  return true;
}

// Input must have passed check_binary_input.
ThresholdSteps threshold_steps(const std::vector<float>& scores, const std::vector<int>& positive) {
  std::vector<std::size_t> order(scores.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return scores[a] > scores[b]; });

  ThresholdSteps steps;
  long long tp = 0;
  long long fp = 0;
  for (std::size_t k = 0; k < order.size(); ++k) {
    const std::size_t i = order[k];
    if (positive[i] == 1) ++tp; else ++fp;
    const bool last_of_tie = k + 1 == order.size() || scores[order[k + 1]] != scores[i];
    if (!last_of_tie) continue;
    steps.thresholds.push_back(static_cast<double>(scores[i]));
    steps.true_positives.push_back(tp);
    steps.false_positives.push_back(fp);
  }
  steps.positives = tp;
  steps.negatives = fp;
  return steps;
}

bool has_both_classes(const ThresholdSteps& steps) { return steps.positives > 0 && steps.negatives > 0; }

Error needs_both_classes(const char* what, const ThresholdSteps& steps) {
  return invalid(std::string(what) + " needs positive and negative samples, got " + std::to_string(steps.positives) +
                 " positive and " + std::to_string(steps.negatives) + " negative");
}

// Trapezoids between consecutive ROC points, starting from (0,0). Each trapezoid's area times 2*P*N is
// (fp_i - fp_(i-1)) * (tp_i + tp_(i-1)), an integer, so the sum is exact before the final division.
double area_under_roc(const ThresholdSteps& steps) {
  long long twice_area = 0;
  long long tp_before = 0;
  long long fp_before = 0;
  for (std::size_t i = 0; i < steps.thresholds.size(); ++i) {
    twice_area += (steps.false_positives[i] - fp_before) * (steps.true_positives[i] + tp_before);
    tp_before = steps.true_positives[i];
    fp_before = steps.false_positives[i];
  }
  return static_cast<double>(twice_area) /
         (2.0 * static_cast<double>(steps.positives) * static_cast<double>(steps.negatives));
}

// sum_n (R_n - R_(n-1)) * P_n with R_n = tp_n / P: the 1/P is taken out of the sum.
double area_under_precision_recall(const ThresholdSteps& steps) {
  double sum = 0.0;
  long long tp_before = 0;
  for (std::size_t i = 0; i < steps.thresholds.size(); ++i) {
    const long long tp = steps.true_positives[i];
    sum += static_cast<double>(tp - tp_before) * ratio(tp, tp + steps.false_positives[i]);
    tp_before = tp;
  }
  return sum / static_cast<double>(steps.positives);
}

OperatingPoint operating_point(const ThresholdSteps& steps, std::size_t i) {
  OperatingPoint point;
  point.threshold = steps.thresholds[i];
  point.sensitivity = ratio(steps.true_positives[i], steps.positives);
  point.specificity = ratio(steps.negatives - steps.false_positives[i], steps.negatives);
  return point;
}

// ---- multi-class

Result<int> check_probabilities(const std::vector<std::vector<float>>& probs, const std::vector<int>& labels,
                                double threshold) {
  if (probs.empty()) return invalid("no samples");
  if (probs.size() != labels.size())
    return invalid(std::to_string(probs.size()) + " probability rows but " + std::to_string(labels.size()) +
                   " labels");
  const std::size_t classes = probs[0].size();
  if (classes < 2)
    return invalid("a classifier needs at least 2 classes, got " + std::to_string(classes) + " probability column(s)");
  for (std::size_t i = 0; i < probs.size(); ++i) {
    if (probs[i].size() != classes)
      return invalid("row " + std::to_string(i) + " has " + std::to_string(probs[i].size()) +
                     " probabilities, expected " + std::to_string(classes));
    if (labels[i] < 0 || static_cast<std::size_t>(labels[i]) >= classes)
      return invalid("label at index " + std::to_string(i) + " is " + std::to_string(labels[i]) +
                     "; labels must be in [0, " + std::to_string(classes - 1) + "]");
    for (std::size_t c = 0; c < classes; ++c)
      if (std::isnan(probs[i][c]))
        return invalid("probability at row " + std::to_string(i) + ", column " + std::to_string(c) + " is NaN");
  }
  if (classes == 2 && std::isnan(threshold)) return invalid("decision threshold is NaN");
  return static_cast<int>(classes);
}

ConfusionMatrix confusion_matrix(const std::vector<std::vector<float>>& probs, const std::vector<int>& labels,
                                 int classes, double threshold) {
  ConfusionMatrix cm;
  cm.classes = classes;
  cm.counts.assign(static_cast<std::size_t>(classes) * classes, 0);
  for (std::size_t i = 0; i < probs.size(); ++i)
    ++cm.counts[static_cast<std::size_t>(labels[i]) * classes + predicted_class(probs[i], threshold)];
  return cm;
}

ClassMetrics one_vs_rest(const ConfusionMatrix& cm, int c, long long total) {
  long long predicted_as_c = 0;
  long long truly_c = 0;
  for (int k = 0; k < cm.classes; ++k) {
    predicted_as_c += cm.at(k, c);
    truly_c += cm.at(c, k);
  }
  const long long tp = cm.at(c, c);
  const long long fp = predicted_as_c - tp;
  const long long fn = truly_c - tp;
  const long long tn = total - tp - fp - fn;
  ClassMetrics m;
  m.precision = ratio(tp, tp + fp);
  m.recall = ratio(tp, tp + fn);
  m.specificity = ratio(tn, tn + fp);
  m.f1 = ratio(2 * tp, 2 * tp + fp + fn);  // = 2PR/(P+R), and 0 where that is 0/0
  m.support = truly_c;
  return m;
}

// Weighted mean of the per-class rates; support becomes the total number of samples.
ClassMetrics average(const std::vector<ClassMetrics>& per_class, bool weight_by_support) {
  ClassMetrics mean;
  double weight_sum = 0.0;
  for (const ClassMetrics& m : per_class) {
    const double w = weight_by_support ? static_cast<double>(m.support) : 1.0;
    mean.precision += w * m.precision;
    mean.recall += w * m.recall;
    mean.specificity += w * m.specificity;
    mean.f1 += w * m.f1;
    mean.support += m.support;
    weight_sum += w;
  }
  if (weight_sum > 0.0) {
    mean.precision /= weight_sum;
    mean.recall /= weight_sum;
    mean.specificity /= weight_sum;
    mean.f1 /= weight_sum;
  }
  return mean;
}

double mean_of_defined(const std::vector<double>& values) {
  double sum = 0.0;
  int count = 0;
  for (double v : values) {
    if (std::isnan(v)) continue;
    sum += v;
    ++count;
  }
  return count == 0 ? kUndefined : sum / count;
}

// Class c against the rest, scored by column c.
void one_vs_rest_areas(const std::vector<std::vector<float>>& probs, const std::vector<int>& labels, int c,
                       double& roc_area, double& pr_area) {
  std::vector<float> scores(probs.size());
  std::vector<int> positive(probs.size());
  for (std::size_t i = 0; i < probs.size(); ++i) {
    scores[i] = probs[i][c];
    positive[i] = labels[i] == c ? 1 : 0;
  }
  const ThresholdSteps steps = threshold_steps(scores, positive);
  roc_area = has_both_classes(steps) ? area_under_roc(steps) : kUndefined;
  pr_area = steps.positives > 0 ? area_under_precision_recall(steps) : kUndefined;
}

}  // namespace

int predicted_class(const std::vector<float>& row, double threshold) {
  // The shared decision rule (cellcam/decision.h): two classes decide at the threshold, more by argmax.
  DecisionRule rule;
  rule.binary = row.size() == 2;
  rule.classes = static_cast<int>(row.size());
  rule.threshold = threshold;
  return row.empty() ? 0 : decide(row.data(), rule).index;
}

std::vector<int> correct_decisions(const std::vector<std::vector<float>>& probs, const std::vector<int>& labels, double threshold) {
  std::vector<int> c(probs.size());
  for (std::size_t i = 0; i < probs.size(); ++i) c[i] = predicted_class(probs[i], threshold) == labels[i] ? 1 : 0;
  return c;
}

long long ConfusionMatrix::at(int truth, int predicted) const {
  if (truth < 0 || truth >= classes || predicted < 0 || predicted >= classes) return 0;
  return counts[static_cast<std::size_t>(truth) * classes + predicted];
}

Result<RocCurve> roc_curve(const std::vector<float>& scores, const std::vector<int>& positive) {
  Result<bool> checked = check_binary_input(scores, positive);
  if (!checked.ok()) return checked.error();
  const ThresholdSteps steps = threshold_steps(scores, positive);
  if (!has_both_classes(steps)) return needs_both_classes("a ROC curve", steps);
  RocCurve curve;
  curve.fpr.push_back(0.0);
  curve.tpr.push_back(0.0);
  curve.thresholds.push_back(std::numeric_limits<double>::infinity());
  for (std::size_t i = 0; i < steps.thresholds.size(); ++i) {
    curve.fpr.push_back(ratio(steps.false_positives[i], steps.negatives));
    curve.tpr.push_back(ratio(steps.true_positives[i], steps.positives));
    curve.thresholds.push_back(steps.thresholds[i]);
  }
  return curve;
}

Result<double> roc_auc(const std::vector<float>& scores, const std::vector<int>& positive) {
  Result<bool> checked = check_binary_input(scores, positive);
  if (!checked.ok()) return checked.error();
  const ThresholdSteps steps = threshold_steps(scores, positive);
  if (!has_both_classes(steps)) return needs_both_classes("ROC AUC", steps);
  return area_under_roc(steps);
}

Result<double> average_precision(const std::vector<float>& scores, const std::vector<int>& positive) {
  Result<bool> checked = check_binary_input(scores, positive);
  if (!checked.ok()) return checked.error();
  const ThresholdSteps steps = threshold_steps(scores, positive);
  if (steps.positives == 0) return invalid("average precision needs at least one positive sample");
  return area_under_precision_recall(steps);
}

Result<Metrics> compute_metrics(const std::vector<std::vector<float>>& probs, const std::vector<int>& labels,
                                double threshold) {
  Result<int> checked = check_probabilities(probs, labels, threshold);
  if (!checked.ok()) return checked.error();
  const int classes = checked.value();
  const long long total = static_cast<long long>(probs.size());

  Metrics metrics;
  metrics.confusion = confusion_matrix(probs, labels, classes, threshold);
  long long correct = 0;
  for (int c = 0; c < classes; ++c) {
    correct += metrics.confusion.at(c, c);
    metrics.per_class.push_back(one_vs_rest(metrics.confusion, c, total));
  }
  metrics.accuracy = ratio(correct, total);
  metrics.macro = average(metrics.per_class, false);
  metrics.weighted = average(metrics.per_class, true);

  metrics.per_class_roc_auc.resize(classes);
  metrics.per_class_pr_auc.resize(classes);
  for (int c = 0; c < classes; ++c)
    one_vs_rest_areas(probs, labels, c, metrics.per_class_roc_auc[c], metrics.per_class_pr_auc[c]);
  if (classes == 2) {
    metrics.roc_auc = metrics.per_class_roc_auc[1];
    metrics.pr_auc = metrics.per_class_pr_auc[1];
  } else {
    metrics.roc_auc = mean_of_defined(metrics.per_class_roc_auc);
    metrics.pr_auc = mean_of_defined(metrics.per_class_pr_auc);
  }
  return metrics;
}

Result<OperatingPoint> youden_threshold(const std::vector<float>& scores, const std::vector<int>& positive) {
  Result<bool> checked = check_binary_input(scores, positive);
  if (!checked.ok()) return checked.error();
  const ThresholdSteps steps = threshold_steps(scores, positive);
  if (!has_both_classes(steps)) return needs_both_classes("Youden's threshold", steps);
  // J = tp/P - fp/N compared as tp*N - fp*P: exact, so mathematically equal J values really tie.
  std::size_t best = 0;
  long long best_j = steps.true_positives[0] * steps.negatives - steps.false_positives[0] * steps.positives;
  for (std::size_t i = 1; i < steps.thresholds.size(); ++i) {
    const long long j = steps.true_positives[i] * steps.negatives - steps.false_positives[i] * steps.positives;
    if (j > best_j) {  // strict: thresholds descend, so a tie keeps the higher one
      best = i;
      best_j = j;
    }
  }
  return operating_point(steps, best);
}

Result<OperatingPoint> threshold_for_sensitivity(const std::vector<float>& scores, const std::vector<int>& positive,
                                                 double target) {
  if (!(target >= 0.0 && target <= 1.0))
    return invalid("target sensitivity must be in [0, 1], got " + format(target));
  Result<bool> checked = check_binary_input(scores, positive);
  if (!checked.ok()) return checked.error();
  const ThresholdSteps steps = threshold_steps(scores, positive);
  if (!has_both_classes(steps)) return needs_both_classes("a sensitivity threshold", steps);
  for (std::size_t i = 0; i < steps.thresholds.size(); ++i)
    if (ratio(steps.true_positives[i], steps.positives) >= target) return operating_point(steps, i);
  // Unreachable: the lowest threshold admits every positive (sensitivity 1 >= target).
  return operating_point(steps, steps.thresholds.size() - 1);
}

}  // namespace cellcam::train
