// test_ood.cpp — the out-of-distribution rules (ood.h, and where they meet decision.h, ensemble.h,
// tiling.h and model_card.h), checked by hand. Compiled natively and to wasm from this one source.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>

#include "cellcam/decision.h"
#include "cellcam/ensemble.h"
#include "cellcam/model_card.h"
#include "cellcam/ood.h"
#include "cellcam/tiling.h"

namespace cellcam {
namespace {

const std::string kSha = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const std::string kCard = R"({"schema_version": 1, "name": "m", "classes": ["neg", "pos"], "head": "binary",
  "preprocess": {"width": 64, "height": 64}, "threshold": 0.5, "onnx": {"sha256": ")" + kSha + R"("},
  "ood": {"score": "mahalanobis", "layer": "features.18", "features": 2, "threshold": 10.0, "pass_rate": 0.95,
          "threshold_source": "validation", "measured": {"test_passed": 0.95}}})";

ModelCard card_of(const std::string& text) {
  Result<ModelCard> c = parse_model_card(text);
  EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().message);
  return c.ok() ? c.value() : ModelCard{};
}

TEST(Ood, CardReadsWritesAndRefuses) {
  const ModelCard card = card_of(kCard);
  ASSERT_TRUE(card.ood.present);
  EXPECT_EQ(card.ood.layer, "features.18");
  EXPECT_DOUBLE_EQ(card.ood.threshold, 10.0);
  const std::string written = model_card_to_json(card);
  EXPECT_EQ(model_card_to_json(card_of(written)), written);
  EXPECT_NE(written.find("\"test_passed\""), std::string::npos);  // the measured figures are kept
  std::string bad = kCard;
  bad.replace(bad.find("\"threshold\": 10.0"), 17, "\"threshold\": \"x\"");
  EXPECT_FALSE(parse_model_card(bad).ok());
  bad = kCard;
  bad.replace(bad.find("\"mahalanobis\""), 13, "\"members\"");
  EXPECT_FALSE(parse_model_card(bad).ok());  // "members" is an ensemble's
  // the graph must have the output the card promises
  EXPECT_FALSE(check_onnx_ood_output(card, {}).ok());
  EXPECT_TRUE(check_onnx_ood_output(card, {-1}).ok());
  EXPECT_TRUE(check_onnx_ood_output(ModelCard{}, {}).ok());
}

TEST(Ood, DecideFlagsAboveTheThresholdAndRefers) {
  const DecisionRule rule = decision_rule(card_of(kCard));
  const double sure[] = {0.01, 0.99};
  EXPECT_FALSE(decide(sure, rule).review);
  EXPECT_FALSE(decide(sure, rule, -1.0, 10.0).ood);  // at the threshold: passes
  const Decision d = decide(sure, rule, -1.0, 10.5);
  EXPECT_TRUE(d.ood);
  EXPECT_TRUE(d.review);
  EXPECT_EQ(d.index, 1);                             // the class is still reported
  EXPECT_FALSE(decide(sure, rule, -1.0, kNoOodScore).ood);
  EXPECT_FALSE(decide(sure, decision_rule(ModelCard{}), -1.0, 1e9).ood);  // no "ood" block: no flag
  EXPECT_NE(describe_rules(card_of(kCard)).ood.find("10.000"), std::string::npos);
}

TEST(Ood, FitMatchesTheMahalanobisDistance) {
  // two classes in 3-D with a correlated shared covariance; the score must equal the direct formula
  std::mt19937_64 rng(3);
  std::normal_distribution<double> n(0.0, 1.0);
  const int F = 3, N = 400;
  std::vector<float> x;
  std::vector<int> y;
  for (int i = 0; i < N; ++i) {
    const double a = n(rng), b = n(rng), c = n(rng);
    const int label = i % 2;
    x.push_back(static_cast<float>(a + 5 * label));
    x.push_back(static_cast<float>(0.8 * a + 0.6 * b));
    x.push_back(static_cast<float>(2 * c - label));
    y.push_back(label);
  }
  Result<OodStats> s = fit_mahalanobis(x, y, F, 2, 0.0);
  ASSERT_TRUE(s.ok()) << s.error().message;
  // direct: means, covariance, inverse by Gauss-Jordan
  double mu[2][3] = {}, cnt[2] = {};
  for (int i = 0; i < N; ++i) { cnt[y[i]]++; for (int j = 0; j < F; ++j) mu[y[i]][j] += x[i * F + j]; }
  for (int c = 0; c < 2; ++c) for (int j = 0; j < F; ++j) mu[c][j] /= cnt[c];
  double S[3][6] = {};
  for (int i = 0; i < N; ++i)
    for (int a = 0; a < F; ++a)
      for (int b = 0; b < F; ++b) S[a][b] += (x[i * F + a] - mu[y[i]][a]) * (x[i * F + b] - mu[y[i]][b]) / N;
  for (int a = 0; a < F; ++a) S[a][F + a] = 1;
  for (int p = 0; p < F; ++p) {
    const double d = S[p][p];
    for (int k = 0; k < 2 * F; ++k) S[p][k] /= d;
    for (int r = 0; r < F; ++r) {
      if (r == p) continue;
      const double f = S[r][p];
      for (int k = 0; k < 2 * F; ++k) S[r][k] -= f * S[p][k];
    }
  }
  const float probe[] = {1.5f, -2.0f, 3.0f};
  double best = 1e300;
  for (int c = 0; c < 2; ++c) {
    double q = 0;
    for (int a = 0; a < F; ++a)
      for (int b = 0; b < F; ++b) q += (probe[a] - mu[c][a]) * S[a][F + b] * (probe[b] - mu[c][b]);
    best = std::min(best, q);
  }
  EXPECT_NEAR(mahalanobis_score(probe, s.value()), best, 1e-4 * best);
  // a dead unit (always 0: zero variance) is made invertible by the shrinkage, and a probe that moves it
  // is far from the training images
  std::vector<float> dead = x;
  for (int i = 0; i < N; ++i) dead[i * F + 2] = 0;
  Result<OodStats> ds = fit_mahalanobis(dead, y, F, 2, 1e-3);
  ASSERT_TRUE(ds.ok());
  const float in[] = {0.0f, 0.0f, 0.0f}, moved[] = {0.0f, 0.0f, 1.0f};
  EXPECT_GT(mahalanobis_score(moved, ds.value()), 100 * mahalanobis_score(in, ds.value()) + 100);
  EXPECT_FALSE(fit_mahalanobis(x, std::vector<int>(N, 0), F, 2).ok());  // class 1 without samples
}

TEST(Ood, ThresholdLetsThePassRateThrough) {
  std::vector<double> v;
  for (int i = 1; i <= 100; ++i) v.push_back(i);
  EXPECT_DOUBLE_EQ(ood_threshold(v, 0.95).value(), 95.0);  // 95 of 100 at or below
  EXPECT_DOUBLE_EQ(ood_threshold({3.0}, 0.95).value(), 3.0);
  EXPECT_FALSE(ood_threshold({}, 0.95).ok());
}

TEST(Ood, ViewsTilesAndEnsembles) {
  // one model, 2 images x 8 views: the mean over views
  const ModelCard one = card_of(kCard);
  MemberOutput m;
  for (int i = 0; i < 16; ++i) m.probs.insert(m.probs.end(), {0.5f, 0.5f}), m.ood.push_back(static_cast<float>(i < 8 ? i : 100));
  Result<CombinedOutput> c = combine_outputs(one, {m}, 2, true);
  ASSERT_TRUE(c.ok()) << c.error().message;
  ASSERT_EQ(c.value().ood.size(), 2u);
  EXPECT_DOUBLE_EQ(c.value().ood[0], 3.5);
  EXPECT_DOUBLE_EQ(c.value().ood[1], 100.0);
  // tiles: binary, the reported (most positive) tile's score; multiclass, the mean
  const float tiles[] = {0.9f, 0.1f, 0.2f, 0.8f, 0.6f, 0.4f};
  const double tile_ood[] = {1.0, 7.0, 4.0};
  const TileAggregate a = aggregate_tiles(tiles, 3, 2, true, 0.5);
  EXPECT_DOUBLE_EQ(aggregate_tile_ood(tile_ood, 3, true, a), 7.0);
  EXPECT_DOUBLE_EQ(aggregate_tile_ood(tile_ood, 3, false, a), 4.0);
  // an ensemble: the weighted mean of score / member threshold
  const std::string member = R"({"onnx": {"sha256": ")" + kSha + R"("}, "weight": %W%, "ood": {"score": "mahalanobis", "threshold": %T%}})";
  auto mem = [&](const char* w, const char* t) {
    std::string s = member;
    s.replace(s.find("%W%"), 3, w);
    s.replace(s.find("%T%"), 3, t);
    return s;
  };
  const ModelCard ens = card_of(R"({"schema_version": 1, "name": "e", "classes": ["neg", "pos"], "head": "binary",
    "preprocess": {}, "ensemble": {"method": "soft", "members": [)" + mem("3", "10") + "," + mem("1", "2") +
                                R"(]}, "ood": {"score": "members", "threshold": 1.0}})");
  MemberOutput a1, a2;
  a1.probs = a2.probs = {0.5f, 0.5f};
  a1.ood = {5.0f};
  a2.ood = {6.0f};
  Result<CombinedOutput> e = combine_outputs(ens, {a1, a2}, 1, false);
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_NEAR(e.value().ood[0], 0.75 * 0.5 + 0.25 * 3.0, 1e-12);  // 1.125: above the ensemble's threshold 1
  EXPECT_TRUE(decide(e.value().probs.data(), decision_rule(ens), -1.0, e.value().ood[0]).ood);
  a2.ood = {2.0f};  // 0.375 + 0.25: under it
  EXPECT_FALSE(decide(e.value().probs.data(), decision_rule(ens), -1.0, combine_outputs(ens, {a1, a2}, 1, false).value().ood[0]).ood);
}

}  // namespace
}  // namespace cellcam
