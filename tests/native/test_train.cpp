// test_train.cpp — `cellcam train` end to end on the smoke set (80 malaria cells from 61 patients):
// it must beat chance clearly on its held-out patients, and a run killed after one epoch and resumed
// must give the same numbers as an uninterrupted one (also with a weight average, --ema).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include <torch/torch.h>

#include "cellcam/model_spec.h"
#include "cellcam/spec.h"
#include "network.h"
#include "trainer.h"
#include "weight_average.h"

namespace cellcam::train {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

TrainSettings smoke_settings(const std::string& out) {
  TrainSettings s;
  s.data = std::string(CELLCAM_TEST_DATA_DIR) + "/train_smoke";
  s.out = out;
  s.preset = "malaria_bn_se";
  s.image_size = 32;
  s.epochs = 45;
  s.batch_size = 8;
  s.lr = 2e-3;
  s.augment = "hflip,vflip,rot90";
  s.val_fraction = 0.25;
  s.test_fraction = 0.25;
  s.patience = 0;
  s.threads = 2;
  s.workers = 1;
  return s;
}

std::string read(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// metrics.csv without the timing columns (seconds, images/s, wait share), which differ run to run.
std::vector<std::string> deterministic_columns(const fs::path& csv) {
  std::vector<std::string> rows;
  std::istringstream in(read(csv));
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> fields;
    std::stringstream ls(line);
    for (std::string f; std::getline(ls, f, ',');) fields.push_back(f);
    fields.resize(8);
    std::string joined;
    for (const std::string& f : fields) joined += f + ",";
    rows.push_back(joined);
  }
  return rows;
}

TEST(Train, SmokeRunBeatsChanceOnHeldOutPatients) {
  const fs::path out = fs::temp_directory_path() / "cellcam_train_smoke";
  fs::remove_all(out);
  ASSERT_EQ(run_train(smoke_settings(out.string())), 0);
  for (const char* f : {"config.json", "split.csv", "metrics.csv", "skipped.csv", "report.json", "checkpoints/best.pt",
                        "checkpoints/last.pt", "checkpoints/last.pt.json"})
    EXPECT_TRUE(fs::exists(out / f)) << f;
  const json report = json::parse(read(out / "report.json"));
  const double accuracy = report["test"]["accuracy"].get<double>();
  const double auc = report["test"]["roc_auc"].get<double>();
  std::printf("smoke test split: accuracy %.3f, ROC-AUC %.3f\n", accuracy, auc);
  // 20 test cells from patients the model never saw; chance is 0.5. Measured here: 0.95 and 1.0.
  EXPECT_GE(accuracy, 0.80);
  EXPECT_GE(auc, 0.90);
  EXPECT_TRUE(report.contains("threshold"));
}

// Trains 3 epochs straight and 1 + (resume) 2, with or without a weight average, and compares.
void expect_resume_equals_straight(double ema, const std::string& tag, bool stain_norm = false, double drop_noisy = 0.0) {
  const fs::path straight = fs::temp_directory_path() / ("cellcam_train_straight" + tag);
  const fs::path resumed = fs::temp_directory_path() / ("cellcam_train_resumed" + tag);
  fs::remove_all(straight);
  fs::remove_all(resumed);
  TrainSettings a = smoke_settings(straight.string());
  a.epochs = 3;
  a.ema = ema;
  a.stain_norm = stain_norm;
  a.drop_noisy = drop_noisy;
  ASSERT_EQ(run_train(a), 0);

  TrainSettings b = smoke_settings(resumed.string());
  b.epochs = 3;
  b.ema = ema;
  b.stain_norm = stain_norm;
  b.drop_noisy = drop_noisy;
  b.max_epochs_this_run = 1;  // "killed" after epoch 1
  ASSERT_EQ(run_train(b), 0);
  EXPECT_FALSE(fs::exists(resumed / "report.json"));
  TrainSettings again;
  again.resume = resumed.string();
  ASSERT_EQ(run_train(again), 0);

  EXPECT_EQ(deterministic_columns(straight / "metrics.csv"), deterministic_columns(resumed / "metrics.csv"));
  const json ra = json::parse(read(straight / "report.json")), rb = json::parse(read(resumed / "report.json"));
  EXPECT_EQ(ra["test"]["accuracy"], rb["test"]["accuracy"]);
  EXPECT_EQ(ra["test"]["loss"], rb["test"]["loss"]);
}

TEST(Train, ResumeAfterAKillEqualsAnUninterruptedRun) { expect_resume_equals_straight(0.0, ""); }

// --ema: the average travels in last.pt, so a resumed run validates the same averaged weights.
TEST(Train, ResumeWithAWeightAverageEqualsAnUninterruptedRun) { expect_resume_equals_straight(0.9, "_ema"); }

// --stain-norm: the targets are measured on the training images, written into the run's model spec
// (so eval, predict, export and the page normalise the same way), and a resumed run trains identically,
// also when --drop-noisy leaves samples out of the loss (3 epochs: the ramp drops some in epochs 2 and 3).
TEST(Train, StainNormTargetsAreMeasuredAndTravelInTheSpec) {
  expect_resume_equals_straight(0.0, "_stain", /*stain_norm=*/true, /*drop_noisy=*/0.25);
  // The same run without --drop-noisy: identical in epoch 1 (no drop yet), then its training loss, over
  // every sample, is higher than the one over the batches' smaller losses.
  const fs::path kept = fs::temp_directory_path() / "cellcam_train_stain_nodrop";
  fs::remove_all(kept);
  TrainSettings all = smoke_settings(kept.string());
  all.epochs = 3;
  all.stain_norm = true;
  ASSERT_EQ(run_train(all), 0);
  const std::vector<std::string> with_drop = deterministic_columns(fs::temp_directory_path() / "cellcam_train_straight_stain" / "metrics.csv");
  const std::vector<std::string> without = deterministic_columns(kept / "metrics.csv");
  ASSERT_EQ(with_drop.size(), 4u);
  ASSERT_EQ(without.size(), 4u);
  EXPECT_EQ(with_drop[1], without[1]);
  auto train_loss = [](const std::string& row) { return std::stod(row.substr(row.find(',', row.find(',') + 1) + 1)); };
  EXPECT_LT(train_loss(with_drop[3]), train_loss(without[3]));
  const json config = json::parse(read(fs::temp_directory_path() / "cellcam_train_straight_stain" / "config.json"));
  const json stain = config["model"]["preprocess"]["stain"];
  ASSERT_TRUE(stain.is_object()) << config["model"]["preprocess"].dump();
  // Giemsa-stained red cells: pink, so red is the brightest channel; spread well above zero.
  const std::vector<float> mean = stain["target_mean"].get<std::vector<float>>();
  const std::vector<float> sd = stain["target_std"].get<std::vector<float>>();
  ASSERT_EQ(mean.size(), 3u);
  EXPECT_GT(mean[0], mean[1]);
  EXPECT_GT(mean[0], mean[2]);
  for (int c = 0; c < 3; ++c) {
    EXPECT_GT(mean[c], 0.2f);
    EXPECT_LT(mean[c], 1.0f);
    EXPECT_GT(sd[c], 0.01f);
    EXPECT_LT(sd[c], 0.4f);
  }
}

// --stain-method: Reinhard's lαβ and Macenko's stain targets are measured and written into the run's spec
// (one epoch each: seconds), and the setting itself is kept for --resume; a method other than rgb needs no
// --stain-norm beside it.
TEST(Train, StainMethodTargetsTravelInTheSpec) {
  for (const std::string method : {"reinhard", "macenko"}) {
    const fs::path out = fs::temp_directory_path() / ("cellcam_train_stain_" + method);
    fs::remove_all(out);
    TrainSettings s = smoke_settings(out.string());
    s.epochs = 1;
    s.stain_norm = method == "reinhard";  // macenko without --stain-norm: the method alone turns it on
    s.stain_method = method;
    ASSERT_EQ(run_train(s), 0) << method;
    const json config = json::parse(read(out / "config.json"));
    EXPECT_EQ(config["settings"]["stain_method"], method);
    Result<PreprocessSpec> spec = parse_preprocess_spec(config["model"]["preprocess"].dump());
    ASSERT_TRUE(spec.ok()) << spec.error().message;
    const StainSpec& st = spec.value().stain;
    ASSERT_TRUE(st.enabled);
    EXPECT_STREQ(stain_method_name(st.method), method.c_str());
    if (st.method == StainMethod::kReinhard) {
      EXPECT_LT(st.target_mean[0], 0.0f);  // l: log10 of LMS below white
      for (float sd : st.target_std) EXPECT_GT(sd, 0.0f);
      EXPECT_GT(st.target_std[0], st.target_std[1]);  // cells vary far more in lightness than in hue
    } else {
      ASSERT_EQ(st.target_stains.size(), 6u);
      for (int k = 0; k < 2; ++k) {
        const float* v = &st.target_stains[3 * k];
        EXPECT_NEAR(std::sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]), 1.0f, 1e-5f) << k;
      }
      EXPECT_GT(st.target_stains[0], st.target_stains[3]);  // H first: it absorbs more red
      EXPECT_GT(st.target_max_conc[0], 0.1f);
      EXPECT_GT(st.target_max_conc[1], 0.1f);
    }
  }
}

// --folds: every image is tested once over the folds, by a model that never saw its patient; the
// summary agrees with the folds' reports; a cross-validation killed inside fold 2 resumes (--resume OUT)
// to the same numbers as an uninterrupted one.
std::vector<std::pair<std::string, std::string>> test_rows(const fs::path& split_csv) {
  std::vector<std::pair<std::string, std::string>> rows;  // (path, group) of the test part
  std::istringstream in(read(split_csv));
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::stringstream ls(line);
    for (std::string x; std::getline(ls, x, ',');) f.push_back(x);
    if (f.size() == 4 && f[3] == "test") rows.emplace_back(f[0], f[2]);
  }
  return rows;
}

TEST(Train, CrossValidationTestsEveryImageOnceAndResumes) {
  const fs::path straight = fs::temp_directory_path() / "cellcam_train_cv_straight";
  const fs::path resumed = fs::temp_directory_path() / "cellcam_train_cv_resumed";
  fs::remove_all(straight);
  fs::remove_all(resumed);
  TrainSettings a = smoke_settings(straight.string());
  a.folds = 2;
  a.epochs = 2;
  a.val_fraction = 0.2;
  ASSERT_EQ(run_train(a), 0);
  TrainSettings b = a;
  b.out = resumed.string();
  b.max_epochs_this_run = 3;  // "killed" after 3 epochs: fold 1's two, then fold 2's first
  ASSERT_EQ(run_train(b), 0);
  EXPECT_FALSE(fs::exists(resumed / "cv_report.json"));
  EXPECT_TRUE(fs::exists(resumed / "fold-1" / "report.json"));
  EXPECT_TRUE(fs::exists(resumed / "fold-2" / "metrics.csv"));
  EXPECT_FALSE(fs::exists(resumed / "fold-2" / "report.json"));
  TrainSettings again;
  again.resume = resumed.string();
  ASSERT_EQ(run_train(again), 0);

  std::set<std::string> tested, groups_1, groups_2;
  for (const auto& [path, group] : test_rows(straight / "fold-1" / "split.csv")) tested.insert(path), groups_1.insert(group);
  std::size_t n2 = 0;
  for (const auto& [path, group] : test_rows(straight / "fold-2" / "split.csv")) {
    EXPECT_EQ(tested.count(path), 0u) << path << " is tested in both folds";
    tested.insert(path);
    groups_2.insert(group);
    ++n2;
  }
  for (const std::string& g : groups_2) EXPECT_EQ(groups_1.count(g), 0u) << "patient " << g << " is tested in both folds";
  const json cv = json::parse(read(straight / "cv_report.json"));
  EXPECT_EQ(tested.size(), 80u);  // every image of the smoke set, once
  EXPECT_EQ(cv["images"].get<std::size_t>(), tested.size());
  ASSERT_EQ(cv["folds"].size(), 2u);
  double mean = 0.0;
  for (int k = 0; k < 2; ++k) {
    const json fold = json::parse(read(straight / ("fold-" + std::to_string(k + 1)) / "report.json"));
    EXPECT_EQ(cv["folds"][k]["accuracy"], fold["test"]["accuracy"]);
    mean += fold["test"]["accuracy"].get<double>() / 2;
  }
  EXPECT_NEAR(cv["accuracy"]["mean"].get<double>(), mean, 1e-12);
  for (const char* f : {"cv_report.md", "cv_accuracy.png", "confusion_pooled.png", "config.json"})
    EXPECT_TRUE(fs::exists(straight / f)) << f;
  const json cv_resumed = json::parse(read(resumed / "cv_report.json"));
  EXPECT_EQ(cv_resumed["folds"], cv["folds"]);
}

TEST(WeightAverage, FollowsTheDecayAndSwapsBack) {
  Result<ModelSpec> spec = parse_model_spec(
      R"({"classes": ["a", "b"], "preprocess": {"width": 4, "height": 4, "color": "gray", "mean": 0, "std": 1},
          "architecture": {"layers": [{"type": "flatten"}, {"type": "dense", "out": 3}]}})");
  ASSERT_TRUE(spec.ok()) << spec.error().message;
  native::Network net(spec.value());
  torch::NoGradGuard no_grad;
  torch::Tensor w = net->parameters()[0];
  w.fill_(1.0f);
  WeightAverage average(net, /*decay=*/0.5);  // starts at the current weights: 1
  w.fill_(3.0f);
  average.update(net);  // step 1: d = min(0.5, 2/11) = 2/11 -> 1 * 2/11 + 3 * 9/11
  const float expected = 1.0f * (2.0f / 11.0f) + 3.0f * (9.0f / 11.0f);
  EXPECT_NEAR(average.tensors()[0].flatten()[0].item<float>(), expected, 1e-6);
  average.swap(net);
  EXPECT_NEAR(w.flatten()[0].item<float>(), expected, 1e-6);
  average.swap(net);
  EXPECT_EQ(w.flatten()[0].item<float>(), 3.0f);
  EXPECT_FALSE(average.restore({}, 0));
}

// --init-from: a run starting from another run's checkpoint begins with its weights (the head too,
// when it fits).
TEST(Train, InitFromCopiesMatchingWeights) {
  const fs::path donor = fs::temp_directory_path() / "cellcam_train_donor";
  const fs::path taker = fs::temp_directory_path() / "cellcam_train_taker";
  fs::remove_all(donor);
  fs::remove_all(taker);
  TrainSettings a = smoke_settings(donor.string());
  a.epochs = 2;
  ASSERT_EQ(run_train(a), 0);
  TrainSettings b = smoke_settings(taker.string());
  b.epochs = 1;
  b.max_epochs_this_run = 1;
  b.lr = 1e-9;  // the weights barely move: epoch 1 must look like the donor's last epoch
  b.init_from = (donor / "checkpoints" / "last.pt").string();
  ASSERT_EQ(run_train(b), 0);
  const std::vector<std::string> da = deterministic_columns(donor / "metrics.csv"), tb = deterministic_columns(taker / "metrics.csv");
  ASSERT_EQ(da.size(), 3u);
  ASSERT_EQ(tb.size(), 2u);
  // val_loss (column 5) of the taker's first epoch is close to the donor's last.
  auto column = [](const std::string& row, int k) {
    std::stringstream ls(row);
    std::string f;
    for (int i = 0; i <= k; ++i) std::getline(ls, f, ',');
    return std::stod(f);
  };
  EXPECT_NEAR(column(tb[1], 4), column(da[2], 4), 0.02);
}

TEST(Train, BadSettingsAreClearErrors) {
  fs::remove_all(fs::temp_directory_path() / "cellcam_train_bad");  // refused before anything is written
  TrainSettings s = smoke_settings((fs::temp_directory_path() / "cellcam_train_bad").string());
  s.optimizer = "lbfgs";
  EXPECT_EQ(run_train(s), 1);
  s = smoke_settings((fs::temp_directory_path() / "cellcam_train_bad").string());
  s.data = "/nonexistent/folder";
  EXPECT_EQ(run_train(s), 1);
  for (double fraction : {-0.1, 0.5, 1.0}) {
    s = smoke_settings((fs::temp_directory_path() / "cellcam_train_bad").string());
    s.drop_noisy = fraction;
    testing::internal::CaptureStderr();
    EXPECT_EQ(run_train(s), 1) << fraction;
    EXPECT_NE(testing::internal::GetCapturedStderr().find("--drop-noisy"), std::string::npos);
  }
  for (auto [folds, fold] : {std::pair{1, 0}, std::pair{5, 7}, std::pair{101, 1}}) {
    s = smoke_settings((fs::temp_directory_path() / "cellcam_train_bad").string());
    s.folds = folds;
    s.fold = fold;
    testing::internal::CaptureStderr();
    EXPECT_EQ(run_train(s), 1) << folds << " folds, fold " << fold;
    EXPECT_NE(testing::internal::GetCapturedStderr().find("--fold"), std::string::npos);
  }
  EXPECT_FALSE(fs::exists(fs::temp_directory_path() / "cellcam_train_bad"));
}

// Every numeric setting has one allowed range (train_settings.cpp), checked for a resumed config.json
// and direct callers as the option parser checks the command line.
TEST(Train, SettingsOutsideTheirRangeAreRefused) {
  EXPECT_TRUE(validate_settings(TrainSettings{}).ok());
  auto refused = [](void (*edit)(TrainSettings&), const char* option) {
    TrainSettings s;
    edit(s);
    Result<bool> ok = validate_settings(s);
    return !ok.ok() && ok.error().message.find(option) != std::string::npos;
  };
  EXPECT_TRUE(refused([](TrainSettings& s) { s.batch_size = 0; }, "--batch-size"));
  EXPECT_TRUE(refused([](TrainSettings& s) { s.epochs = 0; }, "--epochs"));
  EXPECT_TRUE(refused([](TrainSettings& s) { s.lr = 1e6; }, "--lr"));
  EXPECT_TRUE(refused([](TrainSettings& s) { s.lr = -1; }, "--lr"));
  EXPECT_TRUE(refused([](TrainSettings& s) { s.lr = std::nan(""); }, "--lr"));
  EXPECT_TRUE(refused([](TrainSettings& s) { s.val_fraction = 0; }, "--val-fraction"));
  EXPECT_TRUE(refused([](TrainSettings& s) { s.threads = -1; }, "--threads"));
  EXPECT_TRUE(refused([](TrainSettings& s) { s.cache_gb = -1; }, "--cache-gb"));
  EXPECT_TRUE(refused([](TrainSettings& s) { s.ema = 2; }, "--ema"));
  EXPECT_TRUE(refused([](TrainSettings& s) { s.ema = 1; }, "--ema"));
  EXPECT_TRUE(refused([](TrainSettings& s) { s.color = "cmyk"; }, "--color"));
  EXPECT_TRUE(refused([](TrainSettings& s) { s.val_fraction = 0.5; s.test_fraction = 0.5; }, "--test-fraction"));
  const SettingRange* lr = find_setting_range("--lr");
  ASSERT_NE(lr, nullptr);
  EXPECT_EQ(describe_range(*lr), "(0, 10]");
  EXPECT_TRUE(in_range(*lr, 10));
  EXPECT_FALSE(in_range(*lr, 0));
}

}  // namespace
}  // namespace cellcam::train
