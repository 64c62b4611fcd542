// test_ensemble.cpp — soft voting and disagreement against hand-computed values; the stacking
// meta-model recovers the logistic model that generated its data, sits at a stationary point of its
// objective (finite differences), and learns to trust the member that is right; referral cutoffs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "ensemble.h"

namespace cellcam::train {
namespace {

TEST(Ensemble, SoftVoteByHand) {
  const std::vector<ProbabilityTable> members = {{{0.2f, 0.8f}, {0.9f, 0.1f}}, {{0.6f, 0.4f}, {0.5f, 0.5f}}};
  Result<ProbabilityTable> equal = soft_vote(members);
  ASSERT_TRUE(equal.ok());
  EXPECT_NEAR(equal.value()[0][1], 0.6, 1e-6);
  EXPECT_NEAR(equal.value()[1][0], 0.7, 1e-6);
  // weights 3:1 are normalised to 0.75, 0.25
  Result<ProbabilityTable> weighted = soft_vote(members, {3.0, 1.0});
  ASSERT_TRUE(weighted.ok());
  EXPECT_NEAR(weighted.value()[0][1], 0.75 * 0.8 + 0.25 * 0.4, 1e-6);
  EXPECT_FALSE(soft_vote(members, {1.0}).ok());
  EXPECT_FALSE(soft_vote(members, {0.0, 0.0}).ok());
  EXPECT_FALSE(soft_vote(members, {-1.0, 2.0}).ok());
  EXPECT_FALSE(soft_vote({{{0.5f, 0.5f}}, {{0.5f, 0.5f}, {0.1f, 0.9f}}}).ok());
}

TEST(Ensemble, DisagreementByHand) {
  // image 0: P(positive) 0.8 and 0.4, mean 0.6: each member is 0.2 away -> 0.2; image 1: identical -> 0.
  const std::vector<ProbabilityTable> members = {{{0.2f, 0.8f}, {0.3f, 0.7f}}, {{0.6f, 0.4f}, {0.3f, 0.7f}}};
  Result<std::vector<double>> d = disagreement(members);
  ASSERT_TRUE(d.ok());
  EXPECT_NEAR(d.value()[0], 0.2, 1e-6);
  EXPECT_NEAR(d.value()[1], 0.0, 1e-7);
  // three classes, two members: {1,0,0} vs {0,1,0}: mean {.5,.5,0}; each TV distance 0.5
  Result<std::vector<double>> three = disagreement({{{1.f, 0.f, 0.f}}, {{0.f, 1.f, 0.f}}});
  ASSERT_TRUE(three.ok());
  EXPECT_NEAR(three.value()[0], 0.5, 1e-7);
}

float sigmoid(double z) { return static_cast<float>(1.0 / (1.0 + std::exp(-z))); }

TEST(Ensemble, StackingRecoversTheGeneratingLogisticModel) {
  // Two members whose logits are the features; the label is drawn from sigmoid(1.5 a - 0.5 b + 0.3).
  std::mt19937_64 rng(7);
  std::normal_distribution<double> normal(0.0, 1.5);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  std::vector<ProbabilityTable> members(2);
  std::vector<int> labels;
  for (int i = 0; i < 20000; ++i) {
    const double a = normal(rng), b = normal(rng);
    members[0].push_back({1.f - sigmoid(a), sigmoid(a)});
    members[1].push_back({1.f - sigmoid(b), sigmoid(b)});
    labels.push_back(uniform(rng) < 1.0 / (1.0 + std::exp(-(1.5 * a - 0.5 * b + 0.3))) ? 1 : 0);
  }
  Result<StackingModel> m = fit_stacking(members, labels, /*binary=*/true);
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_TRUE(m.value().converged);
  EXPECT_LT(m.value().iterations, 20);
  EXPECT_NEAR(m.value().weights[0][0], 1.5, 0.1);
  EXPECT_NEAR(m.value().weights[0][1], -0.5, 0.1);
  EXPECT_NEAR(m.value().intercepts[0], 0.3, 0.1);
}

TEST(Ensemble, StackingIsAtAStationaryPointMultiClass) {
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> uniform(0.05, 1.0);
  std::vector<ProbabilityTable> members(2);
  std::vector<int> labels;
  for (int i = 0; i < 300; ++i) {
    for (auto& m : members) {
      std::vector<float> p = {static_cast<float>(uniform(rng)), static_cast<float>(uniform(rng)), static_cast<float>(uniform(rng))};
      const float s = p[0] + p[1] + p[2];
      for (float& v : p) v /= s;
      m.push_back(p);
    }
    labels.push_back(i % 3);
  }
  Result<StackingModel> fitted = fit_stacking(members, labels, /*binary=*/false, /*l2=*/0.01);
  ASSERT_TRUE(fitted.ok()) << fitted.error().message;
  const StackingModel& m = fitted.value();
  ASSERT_EQ(m.weights.size(), 3u);
  ASSERT_EQ(m.weights[0].size(), 6u);
  const double f0 = stacking_objective(m, members, labels);
  EXPECT_NEAR(f0, m.loss, 1e-12);
  // Any small move in any coordinate raises the objective (it is strictly convex: no flat direction).
  for (std::size_t o = 0; o < 3; ++o)
    for (std::size_t f = 0; f <= 6; ++f)
      for (double h : {1e-4, -1e-4}) {
        StackingModel moved = m;
        (f < 6 ? moved.weights[o][f] : moved.intercepts[o]) += h;
        const double df = stacking_objective(moved, members, labels) - f0;
        EXPECT_GE(df, -1e-12) << "output " << o << " feature " << f << " step " << h;
        EXPECT_LT(df, 1e-6);  // first order term ~0: only the curvature h^2 remains
      }
}

TEST(Ensemble, StackingTrustsTheMemberThatIsRight) {
  // Member 0 knows the class (confidently), member 1 is noise: the meta-model beats soft voting.
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  std::vector<ProbabilityTable> members(2);
  std::vector<int> labels;
  for (int i = 0; i < 400; ++i) {
    const int y = i % 4;
    std::vector<float> good(4, 0.1f), noise(4);
    good[static_cast<std::size_t>(y)] = 0.7f;
    float s = 0.f;
    for (float& v : noise) s += (v = static_cast<float>(uniform(rng)) + 0.01f);
    for (float& v : noise) v /= s;
    // the noise member is confidently wrong half the time
    if (i % 2 == 0) {
      noise.assign(4, 0.02f);
      noise[static_cast<std::size_t>((y + 1) % 4)] = 0.94f;
    }
    members[0].push_back(good);
    members[1].push_back(noise);
    labels.push_back(y);
  }
  Result<StackingModel> m = fit_stacking(members, labels, /*binary=*/false);
  ASSERT_TRUE(m.ok());
  Result<ProbabilityTable> stacked = apply_stacking(m.value(), members);
  Result<ProbabilityTable> voted = soft_vote(members);
  ASSERT_TRUE(stacked.ok() && voted.ok());
  auto accuracy = [&](const ProbabilityTable& p) {
    int right = 0;
    for (std::size_t i = 0; i < p.size(); ++i)
      right += std::max_element(p[i].begin(), p[i].end()) - p[i].begin() == labels[i] ? 1 : 0;
    return right / static_cast<double>(p.size());
  };
  EXPECT_DOUBLE_EQ(accuracy(stacked.value()), 1.0);
  EXPECT_LT(accuracy(voted.value()), 0.75);
  EXPECT_FALSE(apply_stacking(m.value(), {members[0]}).ok());
}

TEST(Ensemble, ReferralCutoffByHand) {
  // scores and correctness: the two most uncertain are wrong.
  const std::vector<double> scores = {0.1, 0.2, 0.3, 0.9, 0.8};
  const std::vector<int> correct = {1, 1, 1, 0, 0};
  Result<ReferralCutoff> c = choose_referral_cutoff(scores, correct, /*target=*/1.0, /*max_rate=*/0.5);
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c.value().reached);
  EXPECT_DOUBLE_EQ(c.value().cutoff, 0.8);
  EXPECT_DOUBLE_EQ(c.value().referred_share, 0.4);
  EXPECT_DOUBLE_EQ(c.value().kept_accuracy, 1.0);
  const ReferralCutoff applied = apply_referral_cutoff(scores, correct, 0.8);
  EXPECT_DOUBLE_EQ(applied.referred_share, 0.4);
  EXPECT_DOUBLE_EQ(applied.kept_accuracy, 1.0);
  // Refer nothing when the target is met already: the cutoff lies above every score.
  Result<ReferralCutoff> none = choose_referral_cutoff(scores, correct, 0.5, 0.5);
  ASSERT_TRUE(none.ok());
  EXPECT_DOUBLE_EQ(none.value().referred_share, 0.0);
  EXPECT_DOUBLE_EQ(apply_referral_cutoff(scores, correct, none.value().cutoff).referred_share, 0.0);
  // Out of reach within 20%: the best found, not reached.
  Result<ReferralCutoff> budget = choose_referral_cutoff(scores, correct, 1.0, 0.2);
  ASSERT_TRUE(budget.ok());
  EXPECT_FALSE(budget.value().reached);
  EXPECT_DOUBLE_EQ(budget.value().referred_share, 0.2);
  const auto curve = referral_curve_by_score(scores, correct, 0.4, 0.2);
  ASSERT_EQ(curve.size(), 3u);
  EXPECT_DOUBLE_EQ(curve[0].second, 0.6);
  EXPECT_DOUBLE_EQ(curve[1].second, 0.75);
  EXPECT_DOUBLE_EQ(curve[2].second, 1.0);
}

}  // namespace
}  // namespace cellcam::train
