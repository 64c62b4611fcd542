// test_train.cpp — `cellcam train` end to end on the smoke set (80 malaria cells from 61 patients):
// it must beat chance clearly on its held-out patients, and a run killed after one epoch and resumed
// must give the same numbers as an uninterrupted one.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "trainer.h"

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

TEST(Train, ResumeAfterAKillEqualsAnUninterruptedRun) {
  const fs::path straight = fs::temp_directory_path() / "cellcam_train_straight";
  const fs::path resumed = fs::temp_directory_path() / "cellcam_train_resumed";
  fs::remove_all(straight);
  fs::remove_all(resumed);
  TrainSettings a = smoke_settings(straight.string());
  a.epochs = 3;
  ASSERT_EQ(run_train(a), 0);

  TrainSettings b = smoke_settings(resumed.string());
  b.epochs = 3;
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
  TrainSettings s = smoke_settings((fs::temp_directory_path() / "cellcam_train_bad").string());
  s.optimizer = "lbfgs";
  EXPECT_EQ(run_train(s), 1);
  s = smoke_settings((fs::temp_directory_path() / "cellcam_train_bad").string());
  s.data = "/nonexistent/folder";
  EXPECT_EQ(run_train(s), 1);
}

}  // namespace
}  // namespace cellcam::train
