// test_calibration.cpp — bootstrap intervals and calibration against hand-computed values.
#include <gtest/gtest.h>

#include <cmath>

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

}  // namespace
}  // namespace cellcam::train
