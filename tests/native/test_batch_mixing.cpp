// test_batch_mixing.cpp — mixup, cutmix and label smoothing (native/training/batch_mixing.h): shapes of mixed
// batches, soft targets (rows summing to 1, binary targets in [0,1], equal to the hand-mixed labels), cutmix's
// lambda equal to the pasted box's share, determinism by seed, the mix probability, losses against hand-computed
// values, mixed class weights; and a tiny training run with all of them and random erasing on, resumed after a
// kill, equal to an uninterrupted one, whose run folder holds the config.toml that reproduces it.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "batch_mixing.h"
#include "predictions.h"
#include "train_config.h"
#include "trainer.h"

namespace cellcam::train {
namespace {

namespace fs = std::filesystem;

MixSettings mixup_only(double alpha = 0.4) { return MixSettings{alpha, 0.0, 1.0}; }
MixSettings cutmix_only(double alpha = 1.0) { return MixSettings{0.0, alpha, 1.0}; }

// (N,C,H,W) where every pixel of sample i is i: a mixed sample's mean tells how much of whom it holds.
torch::Tensor constant_samples(int n, int c, int h, int w) {
  return torch::arange(n, torch::kFloat).view({n, 1, 1, 1}).expand({n, c, h, w}).contiguous();
}

TEST(BatchMixing, MixedBatchesKeepTheirShape) {
  const torch::Tensor x = torch::rand({6, 3, 8, 10});
  for (const MixSettings& m : {mixup_only(), cutmix_only(), MixSettings{0.2, 1.0, 1.0}}) {
    const MixPlan plan = draw_mix_plan(m, 6, 8, 10, 11);
    ASSERT_NE(plan.mode, MixPlan::Mode::kNone);
    ASSERT_EQ(plan.permutation.size(), 6u);
    const torch::Tensor mixed = mix_images(x, plan);
    EXPECT_EQ(mixed.sizes(), x.sizes());
    const torch::Tensor labels = torch::tensor(std::vector<std::int64_t>{0, 1, 2, 3, 1, 0});
    EXPECT_EQ(soft_targets(labels, plan, 4, false, 0.1).sizes(), (std::vector<std::int64_t>{6, 4}));
    EXPECT_EQ(soft_targets(labels.clamp_max(1), plan, 2, true, 0.1).sizes(), (std::vector<std::int64_t>{6}));
  }
}

TEST(BatchMixing, SoftTargetsAreTheMixedLabelsAndSumToOne) {
  const torch::Tensor labels = torch::tensor(std::vector<std::int64_t>{0, 3, 2, 1, 3, 0, 2, 1});
  for (std::uint64_t seed = 0; seed < 20; ++seed) {
    for (const MixSettings& m : {mixup_only(), cutmix_only()}) {
      const MixPlan plan = draw_mix_plan(m, 8, 16, 16, seed);
      const double e = 0.1;
      const torch::Tensor t = soft_targets(labels, plan, 4, false, e);  // (8,4)
      EXPECT_TRUE(torch::allclose(t.sum(1), torch::ones({8}), 1e-6, 1e-6));
      EXPECT_GE(t.min().item<float>(), e / 4 - 1e-7);
      for (int i = 0; i < 8; ++i) {  // by hand: lambda of its own class, 1 - lambda of its partner's
        std::vector<double> expected(4, e / 4);
        expected[labels[i].item<long>()] += (1 - e) * plan.lambda;
        expected[labels[plan.permutation[i]].item<long>()] += (1 - e) * (1 - plan.lambda);
        for (int k = 0; k < 4; ++k) EXPECT_NEAR(t[i][k].item<float>(), expected[k], 1e-6);
      }
      const torch::Tensor binary = soft_targets(labels.remainder(2), plan, 2, true, e);  // (8)
      EXPECT_GE(binary.min().item<float>(), e / 2 - 1e-7);
      EXPECT_LE(binary.max().item<float>(), 1 - e / 2 + 1e-7);
    }
  }
}

TEST(BatchMixing, CutmixLambdaIsExactlyTheShareOfTheImageLeft) {
  const int H = 13, W = 17, N = 5;
  const torch::Tensor x = constant_samples(N, 3, H, W);
  int clipped = 0;
  for (std::uint64_t seed = 0; seed < 300; ++seed) {
    const MixPlan plan = draw_mix_plan(cutmix_only(), N, H, W, seed);
    ASSERT_EQ(plan.mode, MixPlan::Mode::kCutmix);
    ASSERT_TRUE(plan.y0 >= 0 && plan.y0 <= plan.y1 && plan.y1 <= H && plan.x0 >= 0 && plan.x0 <= plan.x1 && plan.x1 <= W);
    const double box = static_cast<double>(plan.y1 - plan.y0) * (plan.x1 - plan.x0);
    EXPECT_EQ(plan.lambda, 1.0 - box / (H * W));
    if (plan.y0 == 0 || plan.x0 == 0 || plan.y1 == H || plan.x1 == W) ++clipped;
    // Each mixed sample holds lambda of itself and 1 - lambda of its partner, pixel for pixel.
    const torch::Tensor mixed = mix_images(x, plan);
    for (int i = 0; i < N; ++i) {
      const long j = plan.permutation[i];
      const double own = mixed[i].eq(static_cast<float>(i)).to(torch::kDouble).mean().item<double>();
      if (j != i) {
        EXPECT_NEAR(own, plan.lambda, 1e-12) << seed;
      }
      EXPECT_NEAR(mixed[i].mean().item<double>(), plan.lambda * i + (1 - plan.lambda) * j, 1e-4);
    }
  }
  EXPECT_GT(clipped, 0);  // the clipping case was exercised
}

TEST(BatchMixing, MixupBlendsWholeImages) {
  const torch::Tensor x = constant_samples(4, 1, 3, 3);
  const MixPlan plan = draw_mix_plan(mixup_only(0.4), 4, 3, 3, 5);
  ASSERT_EQ(plan.mode, MixPlan::Mode::kMixup);
  ASSERT_GT(plan.lambda, 0.0);
  ASSERT_LT(plan.lambda, 1.0);
  const torch::Tensor mixed = mix_images(x, plan);
  for (int i = 0; i < 4; ++i)
    EXPECT_TRUE(torch::allclose(mixed[i], torch::full({1, 3, 3}, plan.lambda * i + (1 - plan.lambda) * plan.permutation[i]), 1e-6, 1e-6));
}

TEST(BatchMixing, SameSeedSamePlanAndTheProbabilityHolds) {
  const MixSettings both{0.2, 1.0, 0.5};
  int mixed = 0, cutmix = 0, differ = 0, both_mixed = 0;
  for (std::uint64_t seed = 0; seed < 1000; ++seed) {
    const MixPlan a = draw_mix_plan(both, 16, 32, 32, seed), b = draw_mix_plan(both, 16, 32, 32, seed);
    EXPECT_EQ(a.mode, b.mode);
    EXPECT_EQ(a.lambda, b.lambda);
    EXPECT_EQ(a.permutation, b.permutation);
    EXPECT_EQ(std::vector<int>({a.y0, a.y1, a.x0, a.x1}), std::vector<int>({b.y0, b.y1, b.x0, b.x1}));
    const MixPlan next = draw_mix_plan(both, 16, 32, 32, seed + 1);
    if (a.mode != MixPlan::Mode::kNone && next.mode != MixPlan::Mode::kNone) {  // unmixed plans are all alike
      ++both_mixed;
      differ += a.lambda != next.lambda && a.permutation != next.permutation;
    }
    mixed += a.mode != MixPlan::Mode::kNone;
    cutmix += a.mode == MixPlan::Mode::kCutmix;
  }
  EXPECT_EQ(differ, both_mixed);  // consecutive seeds give unrelated plans
  EXPECT_NEAR(mixed, 500, 60);       // --mix-prob 0.5: binomial(1000, 0.5), sd 16
  EXPECT_NEAR(cutmix, mixed / 2, 50);  // both on: even odds
  for (std::uint64_t seed = 0; seed < 100; ++seed) {
    EXPECT_EQ(draw_mix_plan(MixSettings{0.2, 1.0, 0.0}, 8, 8, 8, seed).mode, MixPlan::Mode::kNone);
    EXPECT_EQ(draw_mix_plan(MixSettings{}, 8, 8, 8, seed).mode, MixPlan::Mode::kNone);
    EXPECT_NE(draw_mix_plan(MixSettings{0.2, 0.0, 1.0}, 8, 8, 8, seed).mode, MixPlan::Mode::kNone);
  }
}

TEST(BatchMixing, BetaSamplesHaveTheBetaMeanAndVariance) {
  for (double alpha : {0.2, 1.0, 2.0}) {
    double sum = 0, sq = 0;
    const int n = 20000;
    for (int i = 0; i < n; ++i) {
      const double v = beta_sample(alpha, static_cast<std::uint64_t>(i));
      ASSERT_GE(v, 0.0);
      ASSERT_LE(v, 1.0);
      sum += v;
      sq += v * v;
    }
    const double mean = sum / n, variance = sq / n - mean * mean;
    EXPECT_NEAR(mean, 0.5, 0.01) << alpha;
    EXPECT_NEAR(variance, 1.0 / (4.0 * (2.0 * alpha + 1.0)), 0.01) << alpha;  // Beta(a, a)
  }
}

TEST(BatchMixing, LabelSmoothedLossesEqualHandComputedValues) {
  const MixPlan none;
  // Binary: z = 0.7, y = 1, e = 0.2 -> t = 0.9; loss = -(t log s(z) + (1 - t) log(1 - s(z))).
  const double z = 0.7, t = 0.9, s = 1.0 / (1.0 + std::exp(-z));
  const torch::Tensor bt = soft_targets(torch::tensor(std::vector<std::int64_t>{1}), none, 2, true, 0.2);
  EXPECT_NEAR(bt[0].item<float>(), 0.9, 1e-7);
  const double binary = soft_target_losses(torch::full({1, 1}, z), bt, true)[0].item<float>();
  EXPECT_NEAR(binary, -(t * std::log(s) + (1 - t) * std::log(1 - s)), 1e-6);
  // Multiclass: logits (1, 2, 0.5), y = 2, e = 0.3 -> t = (0.1, 0.1, 0.8); loss = -sum t_k log softmax_k.
  const double l[3] = {1.0, 2.0, 0.5}, tk[3] = {0.1, 0.1, 0.8};
  const double log_z = std::log(std::exp(l[0]) + std::exp(l[1]) + std::exp(l[2]));
  double expected = 0;
  for (int k = 0; k < 3; ++k) expected -= tk[k] * (l[k] - log_z);
  const torch::Tensor mt = soft_targets(torch::tensor(std::vector<std::int64_t>{2}), none, 3, false, 0.3);
  const torch::Tensor logits = torch::tensor(std::vector<float>{1.0f, 2.0f, 0.5f}).view({1, 3});
  EXPECT_NEAR(soft_target_losses(logits, mt, false)[0].item<float>(), expected, 1e-6);
  // Without smoothing or mixing the soft losses are the plain ones.
  const torch::Tensor y = torch::tensor(std::vector<std::int64_t>{0, 2, 1});
  const torch::Tensor z3 = torch::randn({3, 3});
  EXPECT_TRUE(torch::allclose(soft_target_losses(z3, soft_targets(y, none, 3, false, 0.0), false), sample_losses(z3, y, false), 1e-6, 1e-6));
}

TEST(BatchMixing, ClassWeightsMixWithTheLabels) {
  const torch::Tensor cw = torch::tensor(std::vector<float>{1.0f, 3.0f});
  const torch::Tensor y = torch::tensor(std::vector<std::int64_t>{0, 1});
  MixPlan plan;
  plan.mode = MixPlan::Mode::kMixup;
  plan.lambda = 0.25;
  plan.permutation = {1, 0};
  const torch::Tensor w = mixed_sample_weights(cw, y, plan);
  EXPECT_FLOAT_EQ(w[0].item<float>(), 0.25f * 1 + 0.75f * 3);
  EXPECT_FLOAT_EQ(w[1].item<float>(), 0.25f * 3 + 0.75f * 1);
  EXPECT_TRUE(torch::equal(mixed_sample_weights(cw, y, MixPlan{}), torch::tensor(std::vector<float>{1.0f, 3.0f})));
}

// ---------------------------------------------------------------- a tiny run with everything on

std::string read(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// metrics.csv's first 8 columns (epoch .. val metrics); the timing columns after them differ run to run.
std::vector<std::string> deterministic_rows(const fs::path& csv) {
  std::vector<std::string> rows;
  std::istringstream in(read(csv));
  for (std::string line; std::getline(in, line);) {
    std::stringstream ls(line);
    std::string joined, f;
    for (int k = 0; k < 8 && std::getline(ls, f, ','); ++k) joined += f + ",";
    rows.push_back(joined);
  }
  return rows;
}

TrainSettings everything_on(const fs::path& out) {
  TrainSettings s;
  s.data = std::string(CELLCAM_TEST_DATA_DIR) + "/train_smoke";
  s.out = out.string();
  s.preset = "malaria_base";
  s.image_size = 16;
  s.epochs = 2;
  s.batch_size = 8;
  s.augment = "hflip,erase=0.3@0.5";
  s.label_smoothing = 0.1;
  s.mixup = 0.2;
  s.cutmix = 1.0;
  s.mix_prob = 0.8;
  s.class_weights = true;
  s.drop_noisy = 0.1;
  s.val_fraction = 0.25;
  s.test_fraction = 0.25;
  s.patience = 0;
  s.threads = 2;
  s.workers = 1;
  return s;
}

TEST(BatchMixingRun, EverythingOnTrainsResumesExactlyAndKeepsItsRecipe) {
  const fs::path straight = fs::temp_directory_path() / "cellcam_mixing_straight";
  const fs::path resumed = fs::temp_directory_path() / "cellcam_mixing_resumed";
  fs::remove_all(straight);
  fs::remove_all(resumed);
  ASSERT_EQ(run_train(everything_on(straight)), 0);
  TrainSettings killed = everything_on(resumed);
  killed.max_epochs_this_run = 1;
  ASSERT_EQ(run_train(killed), 0);
  TrainSettings again;
  again.resume = resumed.string();
  ASSERT_EQ(run_train(again), 0);

  const std::vector<std::string> rows = deterministic_rows(straight / "metrics.csv");
  ASSERT_EQ(rows.size(), 3u);  // header + 2 epochs
  EXPECT_EQ(rows, deterministic_rows(resumed / "metrics.csv"));
  const nlohmann::json report = nlohmann::json::parse(read(straight / "report.json"));
  const double accuracy = report["test"]["accuracy"].get<double>();
  EXPECT_TRUE(accuracy >= 0.0 && accuracy <= 1.0);
  // config.json keeps the new settings (so --resume reproduces them) and config.toml is the recipe.
  const nlohmann::json config = nlohmann::json::parse(read(straight / "config.json"));
  EXPECT_EQ(config["settings"]["mixup"].get<double>(), 0.2);
  EXPECT_EQ(config["settings"]["label_smoothing"].get<double>(), 0.1);
  EXPECT_EQ(read(straight / "config.toml"), settings_to_toml(everything_on(straight)));
  const std::string toml = read(straight / "config.toml");
  for (const char* line : {"\nmixup = 0.2\n", "\ncutmix = 1.0\n", "\nmix-prob = 0.8\n", "\nlabel-smoothing = 0.1\n",
                           "\naugment = \"hflip,erase=0.3@0.5\"\n", "\nclass-weights = true\n", "\nbatch-size = 8\n"})
    EXPECT_NE(toml.find(line), std::string::npos) << line << " in\n" << toml;
}

}  // namespace
}  // namespace cellcam::train
