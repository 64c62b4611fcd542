// test_calibration.cpp — bootstrap intervals and calibration against hand-computed values; temperature
// scaling recovers a known temperature and never changes a decision.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "calibration.h"

namespace cellcam::train {
namespace {

TEST(Calibration, EceByHand) {
  // Four samples, two bins: confidences 0.9 (right), 0.8 (wrong) in bin [0.5,1]; 0.6 in... with 2 bins
  // every top-1 confidence of a binary model is >= 0.5, so all land in bin 1.
  const std::vector<std::vector<float>> probs = {{0.1f, 0.9f}, {0.8f, 0.2f}, {0.3f, 0.7f}, {0.4f, 0.6f}};
  const std::vector<int> labels = {1, 1, 1, 0};
  Result<Calibration> c = calibration(probs, labels, 2);
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(c.value().bins.size(), 2u);
  EXPECT_EQ(c.value().bins[0].count, 0);
  EXPECT_EQ(c.value().bins[1].count, 4);
  // mean confidence (0.9 + 0.8 + 0.7 + 0.6) / 4 = 0.75; accuracy: right, wrong, right, wrong = 0.5
  EXPECT_NEAR(c.value().bins[1].confidence, 0.75, 1e-6);
  EXPECT_NEAR(c.value().bins[1].accuracy, 0.5, 1e-12);
  EXPECT_NEAR(c.value().ece, 0.25, 1e-6);
  EXPECT_NEAR(c.value().max_gap, 0.25, 1e-6);
}

TEST(Calibration, PerfectlyCalibratedBinsGiveZero) {
  // Confidence 1.0 and always right.
  const std::vector<std::vector<float>> probs = {{0.0f, 1.0f}, {1.0f, 0.0f}};
  Result<Calibration> c = calibration(probs, {1, 0}, 15);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c.value().bins[14].count, 2);  // 1.0 falls in the last bin
  EXPECT_DOUBLE_EQ(c.value().ece, 0.0);
}

TEST(Calibration, RefusesBadInput) {
  EXPECT_FALSE(calibration({}, {}, 10).ok());
  EXPECT_FALSE(calibration({{0.5f, 0.5f}}, {0, 1}, 10).ok());
  EXPECT_FALSE(calibration({{NAN, 0.5f}}, {0}, 10).ok());
  EXPECT_FALSE(calibration({{0.5f, 0.5f}}, {0}, 0).ok());
}

TEST(Bootstrap, IntervalsContainThePointEstimateAndAreDeterministic) {
  std::vector<std::vector<float>> probs;
  std::vector<int> labels;
  for (int i = 0; i < 200; ++i) {
    const int label = i % 2;
    const float p = label == 1 ? 0.55f + 0.4f * ((i * 37) % 100) / 100.0f : 0.45f - 0.4f * ((i * 53) % 100) / 100.0f;
    const bool flip = i % 10 == 0;  // 10% wrong
    probs.push_back({1.0f - (flip ? 1.0f - p : p), flip ? 1.0f - p : p});
    labels.push_back(label);
  }
  Result<BootstrapIntervals> a = bootstrap_intervals(probs, labels, 0.5, 500, 7);
  Result<BootstrapIntervals> b = bootstrap_intervals(probs, labels, 0.5, 500, 7);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a.value().accuracy.lo, b.value().accuracy.lo);
  EXPECT_EQ(a.value().roc_auc.hi, b.value().roc_auc.hi);
  EXPECT_LE(a.value().accuracy.lo, 0.9);
  EXPECT_GE(a.value().accuracy.hi, 0.9);
  EXPECT_GT(a.value().accuracy.hi - a.value().accuracy.lo, 0.02);  // 200 samples: a few points wide
  EXPECT_LT(a.value().accuracy.hi - a.value().accuracy.lo, 0.12);
  EXPECT_LE(a.value().sensitivity.lo, a.value().sensitivity.hi);
  EXPECT_FALSE(bootstrap_intervals(probs, labels, 0.5, 5, 7).ok());
}

// Labels drawn from sigmoid(z / T0) (binary) or softmax(z / T0) (3 classes): the fitted T is T0's estimate.
TEST(TemperatureScaling, RecoversTheTemperatureThatMadeTheLabels) {
  for (const double t0 : {0.5, 2.5}) {
    std::mt19937_64 rng(7);
    std::uniform_real_distribution<double> uniform(0.0, 1.0);
    std::vector<std::vector<float>> binary_logits, multi_logits;
    std::vector<int> binary_labels, multi_labels;
    for (int i = 0; i < 20000; ++i) {
      const float z = static_cast<float>(-6.0 + 12.0 * uniform(rng));
      binary_logits.push_back({z});
      binary_labels.push_back(uniform(rng) < 1.0 / (1.0 + std::exp(-z / t0)) ? 1 : 0);
      std::vector<float> row = {static_cast<float>(4.0 * uniform(rng)), static_cast<float>(4.0 * uniform(rng)),
                                static_cast<float>(4.0 * uniform(rng))};
      const std::vector<float> p = probabilities_at({row}, false, t0)[0];
      const double u = uniform(rng);
      multi_labels.push_back(u < p[0] ? 0 : (u < p[0] + p[1] ? 1 : 2));
      multi_logits.push_back(row);
    }
    const double fitted_binary = fit_temperature(binary_logits, binary_labels, true).value();
    const double fitted_multi = fit_temperature(multi_logits, multi_labels, false).value();
    std::printf("T0 %.2f: fitted %.3f (binary), %.3f (3 classes)\n", t0, fitted_binary, fitted_multi);
    EXPECT_NEAR(fitted_binary, t0, 0.06 * t0);
    EXPECT_NEAR(fitted_multi, t0, 0.08 * t0);
    // The fit is the NLL's minimum: nudging T either way does not lower it.
    const double at = mean_nll(binary_logits, binary_labels, true, fitted_binary);
    EXPECT_LE(at, mean_nll(binary_logits, binary_labels, true, fitted_binary * 1.05) + 1e-12);
    EXPECT_LE(at, mean_nll(binary_logits, binary_labels, true, fitted_binary / 1.05) + 1e-12);
  }
}

TEST(TemperatureScaling, KeepsEveryDecisionAndTheRowsSumToOne) {
  const std::vector<std::vector<float>> binary = {{-3.0f}, {-0.2f}, {0.0f}, {0.4f}, {5.0f}};
  for (const double t : {0.3, 1.0, 3.0}) {
    const std::vector<std::vector<float>> p1 = probabilities_at(binary, true, 1.0), pt = probabilities_at(binary, true, t);
    for (const double threshold : {0.2, 0.5, 0.7})
      for (std::size_t i = 0; i < binary.size(); ++i)
        EXPECT_EQ(p1[i][1] >= threshold, pt[i][1] >= threshold_at(threshold, t)) << "row " << i << " T " << t;
    const std::vector<std::vector<float>> multi = probabilities_at({{1.0f, 3.0f, -2.0f}, {0.5f, 0.1f, 0.4f}}, false, t);
    EXPECT_EQ(std::max_element(multi[0].begin(), multi[0].end()) - multi[0].begin(), 1);
    EXPECT_EQ(std::max_element(multi[1].begin(), multi[1].end()) - multi[1].begin(), 0);
    for (const auto& row : multi) EXPECT_NEAR(row[0] + row[1] + row[2], 1.0, 1e-6);
  }
  EXPECT_NEAR(threshold_at(0.5, 4.0), 0.5, 1e-12);
  EXPECT_FALSE(fit_temperature({{1.0f}}, {2}, true).ok());
  EXPECT_FALSE(fit_temperature({}, {}, true).ok());
}

TEST(Referral, UncertaintyByHand) {
  EXPECT_NEAR(uncertainty({0.8f, 0.2f}, 0.2, true), 1.0, 1e-7);  // on the threshold (0.2f is not 0.2)
  EXPECT_DOUBLE_EQ(uncertainty({1.0f, 0.0f}, 0.2, true), 0.0);
  EXPECT_DOUBLE_EQ(uncertainty({0.0f, 1.0f}, 0.2, true), 0.0);
  EXPECT_NEAR(uncertainty({0.4f, 0.6f}, 0.2, true), 1.0 - 0.4 / 0.8, 1e-7);
  EXPECT_NEAR(uncertainty({0.1f, 0.7f, 0.2f}, 0.5, false), 0.3, 1e-7);
}

// Ten binary predictions, threshold 0.5; the two wrong ones are the least certain.
TEST(Referral, TheBandReferringTheLeastCertainReachesTheTarget) {
  const std::vector<float> p1 = {0.02f, 0.1f, 0.15f, 0.3f, 0.45f, 0.55f, 0.7f, 0.85f, 0.9f, 0.99f};
  const std::vector<int> labels = {0, 0, 0, 0, 1, 0, 1, 1, 1, 1};  // 0.45 and 0.55 are wrong
  std::vector<std::vector<float>> probs;
  for (float p : p1) probs.push_back({1.0f - p, p});
  const std::vector<ReferralPoint> curve = referral_curve(probs, labels, 0.5, true, 0.5, 0.1);
  ASSERT_EQ(curve.size(), 6u);
  EXPECT_DOUBLE_EQ(curve[0].accuracy, 0.8);  // nothing referred: 8 of 10
  EXPECT_EQ(curve[2].kept, 8);
  EXPECT_DOUBLE_EQ(curve[2].accuracy, 1.0);  // the 2 least certain referred
  const ReviewBand band = choose_review_band(probs, labels, 0.5, true, /*target_accuracy=*/1.0).value();
  EXPECT_TRUE(band.reached);
  EXPECT_DOUBLE_EQ(band.referred_share, 0.2);
  EXPECT_DOUBLE_EQ(band.kept_accuracy, 1.0);
  EXPECT_LE(band.lo, 0.45);
  EXPECT_GE(band.hi, 0.55);
  EXPECT_GT(band.lo, 0.3);   // and nothing more certain than them
  EXPECT_LT(band.hi, 0.7);
  const ReviewBand applied = apply_review_band(probs, labels, 0.5, true, band.lo, band.hi);
  EXPECT_DOUBLE_EQ(applied.referred_share, 0.2);
  EXPECT_DOUBLE_EQ(applied.kept_accuracy, 1.0);
  // A target that needs more than the budget: the best found, flagged as not reached.
  const ReviewBand capped = choose_review_band(probs, labels, 0.5, true, 1.0, /*max_rate=*/0.1).value();
  EXPECT_FALSE(capped.reached);
  EXPECT_LE(capped.referred_share, 0.1);
  EXPECT_FALSE(choose_review_band({}, {}, 0.5, true, 0.9).ok());
}

}  // namespace
// When the threshold is itself one of the scores (as the trainer's is), the moved threshold must keep the
// decision of that very image, which float rounding of its calibrated score can break for threshold_at,
// and of every other image that float can still tell apart from it.
TEST(TemperatureScaling, ThresholdFromAScoreKeepsEveryDecisionOnThoseImages) {
  std::mt19937_64 rng(5);
  std::vector<std::vector<float>> logits;
  for (int i = 0; i < 2000; ++i) logits.push_back({static_cast<float>((static_cast<double>(rng() % 1000001) / 1000000.0 - 0.5) * 16.0)});
  int flips_without = 0, checked = 0, ties = 0;
  for (const double t : {0.7, 1.4292778839757354, 2.5}) {
    const std::vector<std::vector<float>> p1 = probabilities_at(logits, true, 1.0), pt = probabilities_at(logits, true, t);
    for (std::size_t k = 0; k < logits.size(); k += 7) {
      const double threshold = p1[k][1];
      const double moved = threshold_keeping_decisions(p1, pt, threshold, t);
      EXPECT_LE(moved, threshold_at(threshold, t));
      // Never further down than kMargin under the lower of threshold_at and the boundary image's own score
      // (in the tails, logit(float score) is itself a few 1e-6 off): other images keep their decisions.
      EXPECT_GE(moved, std::min(threshold_at(threshold, t), static_cast<double>(pt[k][1])) - 1.001e-6);
      EXPECT_TRUE(moved < pt[k][1] || pt[k][1] - moved == 0.0);  // strictly under the boundary image unless tied
      for (std::size_t i = 0; i < logits.size(); ++i) {
        // Above: stays positive. Below: stays negative, unless float made its calibrated score equal to the
        // boundary image's (no threshold can separate equal numbers; seen near 0 and 1 when T < 1).
        if (p1[i][1] >= threshold) {
          ASSERT_GE(pt[i][1], moved) << "row " << i << ", threshold " << threshold << ", T " << t;
        } else if (pt[i][1] >= moved) {
          ASSERT_EQ(static_cast<double>(pt[i][1]), moved) << "row " << i << ", T " << t;
          ++ties;
        }
        flips_without += (p1[i][1] >= threshold) != (pt[i][1] >= threshold_at(threshold, t));
      }
      ++checked;
    }
  }
  std::printf("%d thresholds from scores: %d decisions flipped by threshold_at alone; by threshold_keeping_decisions none "
              "above, %d below tied in float with the boundary image\n", checked, flips_without, ties);
}

}  // namespace cellcam::train
