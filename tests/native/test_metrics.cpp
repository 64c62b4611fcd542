// test_metrics.cpp — classifier metrics against values counted by hand on small cases, including ties,
// 0/0 rates, absent classes and invalid input.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "metrics.h"

namespace cellcam::train {
namespace {

constexpr double kTol = 1e-12;

// sklearn's documentation example: scores 0.1 0.4 0.35 0.8 for labels 0 0 1 1.
// Descending: 0.8(+) 0.4(-) 0.35(+) 0.1(-), so P = 2, N = 2 and each score is its own step.
const std::vector<float> kScores = {0.1f, 0.4f, 0.35f, 0.8f};
const std::vector<int> kLabels = {0, 0, 1, 1};

TEST(RocCurve, OnePointPerDistinctScore) {
  Result<RocCurve> roc = roc_curve(kScores, kLabels);
  ASSERT_TRUE(roc.ok()) << roc.error().message;
  // Cumulative (tp, fp) at thresholds inf, 0.8, 0.4, 0.35, 0.1: (0,0) (1,0) (1,1) (2,1) (2,2).
  EXPECT_EQ(roc.value().fpr, (std::vector<double>{0.0, 0.0, 0.5, 0.5, 1.0}));
  EXPECT_EQ(roc.value().tpr, (std::vector<double>{0.0, 0.5, 0.5, 1.0, 1.0}));
  const std::vector<double> expected_thresholds = {std::numeric_limits<double>::infinity(), 0.8f, 0.4f, 0.35f, 0.1f};
  EXPECT_EQ(roc.value().thresholds, expected_thresholds);
}

TEST(RocAuc, SklearnExample) {
  // Trapezoids: (0.5-0)*(0.5+0.5)/2 = 0.25 and (1-0.5)*(1+1)/2 = 0.5 -> 0.75.
  // Mann–Whitney: pairs (0.35,0.1) (0.35,0.4) (0.8,0.1) (0.8,0.4) -> 1 + 0 + 1 + 1 = 3 of 4.
  Result<double> auc = roc_auc(kScores, kLabels);
  ASSERT_TRUE(auc.ok());
  EXPECT_NEAR(auc.value(), 0.75, kTol);
}

TEST(AveragePrecision, SklearnExample) {
  // Thresholds 0.8: R 1/2, P 1; 0.4: R 1/2, P 1/2; 0.35: R 1, P 2/3; 0.1: R 1, P 1/2.
  // AP = 0.5*1 + 0*0.5 + 0.5*(2/3) + 0 = 0.8333...
  Result<double> ap = average_precision(kScores, kLabels);
  ASSERT_TRUE(ap.ok());
  EXPECT_NEAR(ap.value(), 5.0 / 6.0, kTol);
}

TEST(RocAuc, AllTiedScoresGiveOneHalf) {
  const std::vector<float> scores = {0.5f, 0.5f, 0.5f, 0.5f, 0.5f};
  const std::vector<int> labels = {0, 1, 0, 1, 1};
  Result<RocCurve> roc = roc_curve(scores, labels);
  ASSERT_TRUE(roc.ok());
  EXPECT_EQ(roc.value().fpr, (std::vector<double>{0.0, 1.0}));  // one step: (0,0) -> (1,1)
  EXPECT_EQ(roc.value().tpr, (std::vector<double>{0.0, 1.0}));
  EXPECT_EQ(roc_auc(scores, labels).value(), 0.5);
  // One threshold admitting all 5: R 0 -> 1 at P = 3/5.
  EXPECT_NEAR(average_precision(scores, labels).value(), 0.6, kTol);
}

TEST(RocAuc, TiesAcrossClassesCountHalf) {
  // Positives 0.9 0.6 0.2, negatives 0.6 0.2. Pairs: 0.9 beats both (2), 0.6 ties 0.6 (1/2) and beats
  // 0.2 (1), 0.2 loses to 0.6 (0) and ties 0.2 (1/2) -> 4 of 6 = 2/3.
  const std::vector<float> scores = {0.9f, 0.6f, 0.6f, 0.2f, 0.2f};
  const std::vector<int> labels = {1, 1, 0, 0, 1};
  EXPECT_NEAR(roc_auc(scores, labels).value(), 2.0 / 3.0, kTol);
  // Steps (tp, fp): 0.9 (1,0), 0.6 (2,1), 0.2 (3,2). AP = 1/3*1 + 1/3*2/3 + 1/3*3/5 = 34/45.
  EXPECT_NEAR(average_precision(scores, labels).value(), 34.0 / 45.0, kTol);
}

TEST(RocAuc, PerfectAndInvertedRankings) {
  const std::vector<float> scores = {0.1f, 0.2f, 0.8f, 0.9f};
  EXPECT_EQ(roc_auc(scores, {0, 0, 1, 1}).value(), 1.0);
  EXPECT_EQ(roc_auc(scores, {1, 1, 0, 0}).value(), 0.0);
  EXPECT_EQ(average_precision(scores, {0, 0, 1, 1}).value(), 1.0);
  // Inverted: positives found last. Steps 0.9 (0,1), 0.8 (0,2), 0.2 (1,2), 0.1 (2,2): 1/2*1/3 + 1/2*2/4.
  EXPECT_NEAR(average_precision(scores, {1, 1, 0, 0}).value(), 1.0 / 6.0 + 0.25, kTol);
}

TEST(AveragePrecision, NoNegativesIsOneButNoPositivesIsAnError) {
  EXPECT_EQ(average_precision({0.3f, 0.7f}, {1, 1}).value(), 1.0);
  Result<double> none = average_precision({0.3f, 0.7f}, {0, 0});
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().message, "average precision needs at least one positive sample");
}

TEST(RocAuc, InvalidInput) {
  EXPECT_EQ(roc_auc({}, {}).error().message, "no samples");
  EXPECT_EQ(roc_auc({0.1f, 0.2f}, {1}).error().message, "2 scores but 1 labels");
  EXPECT_EQ(roc_auc({0.1f, 0.2f}, {1, 2}).error().message, "label at index 1 is 2; binary labels must be 0 or 1");
  EXPECT_EQ(roc_auc({0.1f, std::nanf("")}, {1, 0}).error().message, "score at index 1 is NaN");
  Result<RocCurve> one_class = roc_curve({0.1f, 0.2f}, {1, 1});
  ASSERT_FALSE(one_class.ok());
  EXPECT_EQ(one_class.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(one_class.error().message,
            "a ROC curve needs positive and negative samples, got 2 positive and 0 negative");
}

// ---- operating points

TEST(Youden, TieGoesToTheHigherThreshold) {
  // J = TPR - FPR at 0.8: 0.5 - 0 = 0.5; 0.4: 0.5 - 0.5 = 0; 0.35: 1 - 0.5 = 0.5; 0.1: 0. Tie -> 0.8.
  Result<OperatingPoint> p = youden_threshold(kScores, kLabels);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p.value().threshold, static_cast<double>(0.8f));
  EXPECT_EQ(p.value().sensitivity, 0.5);
  EXPECT_EQ(p.value().specificity, 1.0);
}

TEST(Youden, PicksTheLargestGap) {
  // Positives 0.9 0.6 0.2, negatives 0.6 0.2 (as above): J at 0.9 = 1/3 - 0, at 0.6 = 2/3 - 1/2 = 1/6,
  // at 0.2 = 1 - 1 = 0 -> 0.9 with sensitivity 1/3, specificity 1.
  Result<OperatingPoint> p = youden_threshold({0.9f, 0.6f, 0.6f, 0.2f, 0.2f}, {1, 1, 0, 0, 1});
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p.value().threshold, static_cast<double>(0.9f));
  EXPECT_NEAR(p.value().sensitivity, 1.0 / 3.0, kTol);
  EXPECT_EQ(p.value().specificity, 1.0);
  // Negatives 0.1 0.3 0.5, positives 0.4 0.6 0.7: J at 0.7 = 1/3, 0.6 = 2/3, 0.5 = 2/3 - 1/3,
  // 0.4 = 1 - 1/3 = 2/3 (ties with 0.6), 0.3 = 1 - 2/3, 0.1 = 0 -> 0.6, the higher of the tie.
  p = youden_threshold({0.1f, 0.3f, 0.5f, 0.4f, 0.6f, 0.7f}, {0, 0, 0, 1, 1, 1});
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p.value().threshold, static_cast<double>(0.6f));
  EXPECT_NEAR(p.value().sensitivity, 2.0 / 3.0, kTol);
  EXPECT_EQ(p.value().specificity, 1.0);
}

TEST(SensitivityTarget, HighestThresholdReachingIt) {
  // TPR by threshold: 0.8 -> 0.5, 0.4 -> 0.5, 0.35 -> 1, 0.1 -> 1; specificity 1, 0.5, 0.5, 0.
  Result<OperatingPoint> p = threshold_for_sensitivity(kScores, kLabels, 0.5);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p.value().threshold, static_cast<double>(0.8f));
  EXPECT_EQ(p.value().specificity, 1.0);
  p = threshold_for_sensitivity(kScores, kLabels, 0.75);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p.value().threshold, static_cast<double>(0.35f));
  EXPECT_EQ(p.value().sensitivity, 1.0);
  EXPECT_EQ(p.value().specificity, 0.5);
  EXPECT_EQ(threshold_for_sensitivity(kScores, kLabels, 1.0).value().threshold, static_cast<double>(0.35f));
  EXPECT_EQ(threshold_for_sensitivity(kScores, kLabels, 0.0).value().threshold, static_cast<double>(0.8f));
}

TEST(SensitivityTarget, OutOfRangeTargetIsAnError) {
  EXPECT_EQ(threshold_for_sensitivity(kScores, kLabels, 1.5).error().message,
            "target sensitivity must be in [0, 1], got 1.5");
  EXPECT_FALSE(threshold_for_sensitivity(kScores, kLabels, -0.1).ok());
  EXPECT_FALSE(threshold_for_sensitivity(kScores, kLabels, std::nan("")).ok());
  EXPECT_FALSE(threshold_for_sensitivity({0.2f}, {1}, 0.9).ok());  // no negatives: no specificity
}

// ---- compute_metrics

std::vector<std::vector<float>> binary_rows(const std::vector<float>& p) {
  std::vector<std::vector<float>> rows;
  for (float v : p) rows.push_back({1.0f - v, v});
  return rows;
}

TEST(ComputeMetrics, BinaryAtOneHalf) {
  // p1 = 0.1 0.4 0.35 0.8 >= 0.5 -> predicted 0 0 0 1 for labels 0 0 1 1.
  Result<Metrics> r = compute_metrics(binary_rows(kScores), kLabels);
  ASSERT_TRUE(r.ok()) << r.error().message;
  const Metrics& m = r.value();
  EXPECT_EQ(m.confusion.classes, 2);
  EXPECT_EQ(m.confusion.counts, (std::vector<long long>{2, 0, 1, 1}));  // rows: truth 0 [2 0], truth 1 [1 1]
  EXPECT_EQ(m.confusion.at(1, 0), 1);
  EXPECT_EQ(m.confusion.at(2, 0), 0);  // outside the matrix
  EXPECT_EQ(m.accuracy, 0.75);         // 3 of 4
  // Class 1: TP 1, FP 0, FN 1, TN 2 -> P 1, R 1/2, spec 1, F1 2/(2+0+1) = 2/3.
  EXPECT_EQ(m.per_class[1].precision, 1.0);
  EXPECT_EQ(m.per_class[1].recall, 0.5);
  EXPECT_EQ(m.per_class[1].specificity, 1.0);
  EXPECT_NEAR(m.per_class[1].f1, 2.0 / 3.0, kTol);
  EXPECT_EQ(m.per_class[1].support, 2);
  // Class 0: TP 2, FP 1, FN 0, TN 1 -> P 2/3, R 1, spec 1/2, F1 4/(4+1+0) = 0.8.
  EXPECT_NEAR(m.per_class[0].precision, 2.0 / 3.0, kTol);
  EXPECT_EQ(m.per_class[0].recall, 1.0);
  EXPECT_EQ(m.per_class[0].specificity, 0.5);
  EXPECT_NEAR(m.per_class[0].f1, 0.8, kTol);
  // Macro: F1 (0.8 + 2/3)/2 = 0.7333; equal supports, so weighted = macro.
  EXPECT_NEAR(m.macro.f1, (0.8 + 2.0 / 3.0) / 2.0, kTol);
  EXPECT_NEAR(m.macro.precision, (2.0 / 3.0 + 1.0) / 2.0, kTol);
  EXPECT_NEAR(m.weighted.f1, m.macro.f1, kTol);
  EXPECT_EQ(m.macro.support, 4);
  EXPECT_NEAR(m.roc_auc, 0.75, kTol);
  EXPECT_NEAR(m.pr_auc, 5.0 / 6.0, kTol);
  ASSERT_EQ(m.per_class_roc_auc.size(), 2u);
  EXPECT_NEAR(m.per_class_roc_auc[1], 0.75, kTol);
}

TEST(ComputeMetrics, BinaryThresholdMovesPredictions) {
  // At 0.3: predicted 0 1 1 1. Class 1: TP 2, FP 1, FN 0 -> P 2/3, R 1; accuracy 3/4.
  Result<Metrics> r = compute_metrics(binary_rows(kScores), kLabels, 0.3);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value().confusion.counts, (std::vector<long long>{1, 1, 0, 2}));
  EXPECT_NEAR(r.value().per_class[1].precision, 2.0 / 3.0, kTol);
  EXPECT_EQ(r.value().per_class[1].recall, 1.0);
  // The areas do not depend on the threshold.
  EXPECT_NEAR(r.value().roc_auc, 0.75, kTol);
}

TEST(ComputeMetrics, NothingPredictedPositiveHasZeroPrecision) {
  // At 0.9 every p1 is below: class 1 TP 0, FP 0 -> precision 0/0 := 0, recall 0, F1 0/(0+0+2) = 0.
  Result<Metrics> r = compute_metrics(binary_rows(kScores), kLabels, 0.9);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value().per_class[1].precision, 0.0);
  EXPECT_EQ(r.value().per_class[1].recall, 0.0);
  EXPECT_EQ(r.value().per_class[1].f1, 0.0);
  EXPECT_EQ(r.value().per_class[1].specificity, 1.0);
  EXPECT_EQ(r.value().accuracy, 0.5);
}

// Three classes, seven samples; argmax in brackets.
//   s0 {.7 .2 .1} truth 0 [0]    s1 {.2 .5 .3} truth 0 [1]
//   s2 {.1 .8 .1} truth 1 [1]    s3 {.3 .3 .4} truth 1 [2]
//   s4 {.4 .4 .2} truth 2 [0: tie with 1, lowest index]
//   s5 {.1 .2 .7} truth 2 [2]    s6 {.1 .1 .8} truth 2 [2]
const std::vector<std::vector<float>> kProbs3 = {{.7f, .2f, .1f}, {.2f, .5f, .3f}, {.1f, .8f, .1f}, {.3f, .3f, .4f},
                                                 {.4f, .4f, .2f}, {.1f, .2f, .7f}, {.1f, .1f, .8f}};
const std::vector<int> kLabels3 = {0, 0, 1, 1, 2, 2, 2};

TEST(ComputeMetrics, MultiClass) {
  Result<Metrics> r = compute_metrics(kProbs3, kLabels3);
  ASSERT_TRUE(r.ok()) << r.error().message;
  const Metrics& m = r.value();
  // Rows (truth) 0: [1 1 0], 1: [0 1 1], 2: [1 0 2].
  EXPECT_EQ(m.confusion.counts, (std::vector<long long>{1, 1, 0, 0, 1, 1, 1, 0, 2}));
  EXPECT_NEAR(m.accuracy, 4.0 / 7.0, kTol);
  // Class 0: TP 1, FP 1 (s4), FN 1, TN 4 -> P 1/2, R 1/2, spec 4/5, F1 2/4.
  // Class 1: TP 1, FP 1 (s1), FN 1, TN 4 -> same.
  // Class 2: TP 2, FP 1 (s3), FN 1, TN 3 -> P 2/3, R 2/3, spec 3/4, F1 4/6.
  EXPECT_EQ(m.per_class[0].precision, 0.5);
  EXPECT_NEAR(m.per_class[0].specificity, 0.8, kTol);
  EXPECT_EQ(m.per_class[1].f1, 0.5);
  EXPECT_NEAR(m.per_class[2].precision, 2.0 / 3.0, kTol);
  EXPECT_EQ(m.per_class[2].specificity, 0.75);
  EXPECT_NEAR(m.per_class[2].f1, 2.0 / 3.0, kTol);
  EXPECT_EQ(m.per_class[2].support, 3);
  // Macro precision (1/2 + 1/2 + 2/3)/3 = 5/9; specificity (0.8 + 0.8 + 0.75)/3 = 0.78333.
  EXPECT_NEAR(m.macro.precision, 5.0 / 9.0, kTol);
  EXPECT_NEAR(m.macro.specificity, 2.35 / 3.0, kTol);
  // Weighted by supports 2 2 3: precision (1 + 1 + 2)/7 = 4/7; specificity (1.6 + 1.6 + 2.25)/7 = 5.45/7.
  EXPECT_NEAR(m.weighted.precision, 4.0 / 7.0, kTol);
  EXPECT_NEAR(m.weighted.specificity, 5.45 / 7.0, kTol);
  EXPECT_EQ(m.weighted.support, 7);
  // One-vs-rest ROC (Mann–Whitney):
  //   class 0, column 0: positives .7 .2 vs .1 .3 .4 .1 .1 -> 5 + 3 = 8 of 10
  //   class 1, column 1: positives .8 .3 vs .2 .5 .4 .2 .1 -> 5 + 3 = 8 of 10
  //   class 2, column 2: positives .2 .7 .8 vs .1 .3 .1 .4 -> 2 + 4 + 4 = 10 of 12
  ASSERT_EQ(m.per_class_roc_auc.size(), 3u);
  EXPECT_NEAR(m.per_class_roc_auc[0], 0.8, kTol);
  EXPECT_NEAR(m.per_class_roc_auc[1], 0.8, kTol);
  EXPECT_NEAR(m.per_class_roc_auc[2], 5.0 / 6.0, kTol);
  EXPECT_NEAR(m.roc_auc, (0.8 + 0.8 + 5.0 / 6.0) / 3.0, kTol);
  // One-vs-rest AP:
  //   class 0: .7(+) .4 .3 .2(+) ... -> 1/2*1 + 1/2*2/4 = 0.75
  //   class 1: .8(+) .5 .4 .3(+) ... -> 1/2*1 + 1/2*2/4 = 0.75
  //   class 2: .8(+) .7(+) .4 .3 .2(+) ... -> 1/3*1 + 1/3*1 + 1/3*3/5 = 13/15
  EXPECT_NEAR(m.per_class_pr_auc[0], 0.75, kTol);
  EXPECT_NEAR(m.per_class_pr_auc[1], 0.75, kTol);
  EXPECT_NEAR(m.per_class_pr_auc[2], 13.0 / 15.0, kTol);
  EXPECT_NEAR(m.pr_auc, 71.0 / 90.0, kTol);  // (0.75 + 0.75 + 13/15)/3
}

TEST(ComputeMetrics, AbsentClassIsUndefinedAndLeftOutOfTheMean) {
  // Class 2 has no samples: its ROC and AP are NaN and the macro areas average classes 0 and 1.
  //   class 0, column 0: positives .6 .5 vs .2 .1 -> 4 of 4; AP 1
  //   class 1, column 1: positives .3 .7 vs .2 .3 -> .3 ties .3 (1/2) and beats .2 (1), .7 beats both
  //     (2) -> 3.5 of 4 = 0.875; AP: .7(+) then .3 {+,-}: 1/2*1 + 1/2*2/3 = 5/6
  const std::vector<std::vector<float>> probs = {{.6f, .2f, .2f}, {.5f, .3f, .2f}, {.1f, .3f, .6f}, {.2f, .7f, .1f}};
  Result<Metrics> r = compute_metrics(probs, {0, 0, 1, 1});
  ASSERT_TRUE(r.ok()) << r.error().message;
  const Metrics& m = r.value();
  EXPECT_TRUE(std::isnan(m.per_class_roc_auc[2]));
  EXPECT_TRUE(std::isnan(m.per_class_pr_auc[2]));
  EXPECT_EQ(m.per_class_roc_auc[0], 1.0);
  EXPECT_NEAR(m.per_class_roc_auc[1], 0.875, kTol);
  EXPECT_NEAR(m.roc_auc, (1.0 + 0.875) / 2.0, kTol);
  EXPECT_NEAR(m.pr_auc, (1.0 + 5.0 / 6.0) / 2.0, kTol);
  // Predicted 0 0 2 1: class 2 has support 0 and precision 0/1 = 0.
  EXPECT_EQ(m.per_class[2].support, 0);
  EXPECT_EQ(m.per_class[2].precision, 0.0);
  EXPECT_EQ(m.per_class[2].recall, 0.0);  // 0/0 := 0
}

TEST(ComputeMetrics, InvalidInput) {
  EXPECT_EQ(compute_metrics({}, {}).error().message, "no samples");
  EXPECT_EQ(compute_metrics(binary_rows({0.2f, 0.4f}), {0}).error().message, "2 probability rows but 1 labels");
  EXPECT_EQ(compute_metrics({{0.2f}, {0.4f}}, {0, 0}).error().message,
            "a classifier needs at least 2 classes, got 1 probability column(s)");
  EXPECT_EQ(compute_metrics({{0.2f, 0.8f}, {0.4f, 0.5f, 0.1f}}, {0, 1}).error().message,
            "row 1 has 3 probabilities, expected 2");
  EXPECT_EQ(compute_metrics(kProbs3, {0, 0, 1, 1, 2, 3, 2}).error().message,
            "label at index 5 is 3; labels must be in [0, 2]");
  EXPECT_EQ(compute_metrics(kProbs3, {0, 0, 1, -1, 2, 2, 2}).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(compute_metrics({{0.2f, std::nanf("")}}, {0}).error().message, "probability at row 0, column 1 is NaN");
  EXPECT_EQ(compute_metrics(binary_rows(kScores), kLabels, std::nan("")).error().message, "decision threshold is NaN");
}

}  // namespace
// The one decision rule: binary P(class 1) >= threshold (so exactly at it is positive); multi-class argmax,
// the lower index on a tie; and correct_decisions marks each row against its label.
TEST(Decisions, ThresholdArgmaxAndCorrectness) {
  EXPECT_EQ(predicted_class({0.7f, 0.3f}, 0.3), 1);
  EXPECT_EQ(predicted_class({0.71f, 0.29f}, 0.3), 0);
  EXPECT_EQ(predicted_class({0.2f, 0.4f, 0.4f}, 0.5), 1);
  EXPECT_EQ(correct_decisions({{0.9f, 0.1f}, {0.4f, 0.6f}, {0.6f, 0.4f}}, {0, 0, 1}, 0.5), (std::vector<int>{1, 0, 0}));
  EXPECT_EQ(correct_decisions({{0.6f, 0.4f}}, {1}, 0.4), (std::vector<int>{1}));
  EXPECT_TRUE(correct_decisions({}, {}, 0.5).empty());
}

}  // namespace cellcam::train
