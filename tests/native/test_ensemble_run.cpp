// test_ensemble_run.cpp — `cellcam split`, `cellcam ensemble` and `cellcam predict ENSEMBLE` end to end on
// two tiny runs trained for the suite (2 epochs at 24 px on the smoke set, same seed so the same split,
// two architectures). What must hold:
//   - the report scores every member, soft voting and stacking on the same test images, and the
//     meta-model was fitted on the validation part (its size), never on test;
//   - a member trained on another split (its training images in the ensemble's test part) is refused;
//   - exported members make a folder the page runs: model.json + members/<i>/, whose SHA-256s match;
//   - `cellcam predict` on that folder gives the soft vote of the members' own `cellcam predict` rows.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "dataset.h"
#include "ensemble_run.h"
#include "export_model.h"
#include "predict.h"
#include "trainer.h"

namespace cellcam::train {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::string kSmoke = std::string(CELLCAM_TEST_DATA_DIR) + "/train_smoke";
const fs::path kRoot = fs::temp_directory_path() / "cellcam_ensemble_test";

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int train(const std::string& name, const std::string& preset, std::uint64_t seed) {
  TrainSettings s;
  s.data = kSmoke;
  s.out = (kRoot / name).string();
  s.preset = preset;
  s.image_size = 24;
  s.epochs = 2;
  s.batch_size = 8;
  s.positive_class = "Parasitized";
  s.val_fraction = 0.25;
  s.test_fraction = 0.25;
  s.patience = 0;
  s.seed = seed;
  s.threads = 2;
  s.workers = 1;
  return run_train(s);
}

class EnsembleRun : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    fs::remove_all(kRoot);
    rc_ = train("a", "malaria_bn_se", 42) | train("b", "malaria_leaky_gap", 42);
  }
  void SetUp() override { ASSERT_EQ(rc_, 0) << "the suite's training runs failed"; }
  static int rc_;
};
int EnsembleRun::rc_ = -1;

std::map<std::string, std::vector<double>> predictions(const fs::path& csv) {
  std::map<std::string, std::vector<double>> out;
  Result<std::vector<data::CsvRow>> rows = data::read_csv_file(csv.string());
  EXPECT_TRUE(rows.ok());
  for (std::size_t i = 1; rows && i < rows.value().size(); ++i) {
    const auto& f = rows.value()[i].fields;
    out[f.at(0)] = {std::stod(f.at(1)), std::stod(f.at(2))};
  }
  return out;
}

TEST_F(EnsembleRun, ReportsMembersAndCombinationsFittedOnValidationOnly) {
  EnsembleSettings s;
  s.members = {(kRoot / "a").string(), (kRoot / "b").string()};
  s.out = (kRoot / "ens_runs").string();
  s.threads = 2;
  s.bootstrap = 50;
  ASSERT_EQ(run_ensemble(s), 0);
  const json r = json::parse(read(kRoot / "ens_runs" / "ensemble.json"));
  ASSERT_EQ(r["results"].size(), 4u);
  EXPECT_EQ(r["results"][2]["name"], "soft voting");
  EXPECT_EQ(r["results"][3]["name"], "stacking");
  // Every result is on the run's test part; the meta-model saw the validation part only.
  for (const json& x : r["results"]) {
    long long n = 0;
    for (const auto& row : x["confusion"]["counts"]) for (const auto& v : row) n += v.get<long long>();
    EXPECT_EQ(n, r["counts"]["test"].get<long long>());
  }
  EXPECT_EQ(r["stacking"]["fitted_on"], "val");
  // --method auto: the combination with the lower validation log-loss is the one exported and referred with.
  const double soft_val = r["results"][2]["val_log_loss"].get<double>(), stacked_val = r["results"][3]["val_log_loss"].get<double>();
  EXPECT_EQ(r["referral"]["method"], stacked_val < soft_val ? "stacking" : "soft");
  EXPECT_GT(r["counts"]["val"].get<int>(), 0);
  EXPECT_TRUE(r["stacking"]["converged"].get<bool>());
  EXPECT_EQ(r["split_checks"][0]["checked"], true);
  EXPECT_TRUE(fs::exists(kRoot / "ens_runs" / "report.md"));
  EXPECT_TRUE(fs::exists(kRoot / "ens_runs" / "referral.png"));
  EXPECT_TRUE(fs::exists(kRoot / "ens_runs" / "roc.png"));
  // Run folders are not page folders: no model.json.
  EXPECT_FALSE(fs::exists(kRoot / "ens_runs" / "model.json"));
}

TEST_F(EnsembleRun, AMemberTrainedOnAnotherSplitIsRefused) {
  ASSERT_EQ(train("c", "malaria_leaky_gap", 7), 0);  // another seed: another split
  EnsembleSettings s;
  s.members = {(kRoot / "a").string(), (kRoot / "c").string()};
  s.out = (kRoot / "ens_leak").string();
  s.threads = 2;
  testing::internal::CaptureStderr();
  EXPECT_EQ(run_ensemble(s), 1);
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("not held out"), std::string::npos) << err;
  EXPECT_FALSE(fs::exists(kRoot / "ens_leak" / "ensemble.json"));
}

// Bad --weights are refused before any member is loaded or scored (which takes minutes on real data):
// the members here do not even exist.
TEST(EnsembleWeights, AreCheckedBeforeAnyMemberIsScored) {
  EnsembleSettings s;
  s.members = {(kRoot / "nowhere_1").string(), (kRoot / "nowhere_2").string()};
  s.out = (kRoot / "ens_weights").string();
  for (const std::vector<double>& w : {std::vector<double>{-1.0, 2.0}, std::vector<double>{0.0, 0.0},
                                       std::vector<double>{1.0, 2.0, 3.0}}) {
    s.weights = w;
    testing::internal::CaptureStderr();
    EXPECT_EQ(run_ensemble(s), 1);
    const std::string err = testing::internal::GetCapturedStderr();
    EXPECT_NE(err.find("--weights: "), std::string::npos) << err;
    EXPECT_EQ(err.find("nowhere"), std::string::npos) << "a member was opened before the weights were checked: " << err;
  }
}

TEST_F(EnsembleRun, ExportedMembersMakeAFolderThatPredictRunsAsTheirSoftVote) {
  for (const char* name : {"a", "b"}) {
    explain::ExportSettings e;
    e.run = (kRoot / name).string();
    e.out = (kRoot / (std::string("model_") + name)).string();
    ASSERT_EQ(explain::run_export(e), 0);
  }
  EnsembleSettings s;
  s.members = {(kRoot / "model_a").string(), (kRoot / "model_b").string()};
  s.data = kSmoke;
  s.split = (kRoot / "a" / "split.csv").string();
  s.out = (kRoot / "ens_models").string();
  s.weights = {3.0, 1.0};
  s.method = "soft";
  s.threads = 2;
  s.bootstrap = 50;
  ASSERT_EQ(run_ensemble(s), 0);
  const fs::path dir = kRoot / "ens_models";
  const json model = json::parse(read(dir / "model.json"));
  ASSERT_EQ(model["ensemble"]["members"].size(), 2u);
  EXPECT_EQ(model["ensemble"]["method"], "soft");
  for (const json& m : model["ensemble"]["members"]) {
    const fs::path onnx = dir / m["onnx"]["file"].get<std::string>();
    EXPECT_EQ(explain::sha256_hex(read(onnx)), m["onnx"]["sha256"]);
    EXPECT_TRUE(fs::exists(onnx.parent_path() / "weights.pt"));
  }
  EXPECT_NEAR(model["ensemble"]["members"][0]["weight"].get<double>(), 0.75, 1e-12);
  EXPECT_FALSE(model["ensemble"]["members"][0]["onnx"]["file"].get<std::string>().empty());

  PredictSettings p;
  p.inputs = {kSmoke + "/Parasitized", kSmoke + "/Uninfected"};
  p.threads = 2;
  p.run = dir.string();
  p.out = (kRoot / "ens.csv").string();
  ASSERT_EQ(run_predict(p), 0);
  p.run = (kRoot / "model_a").string();
  p.out = (kRoot / "a.csv").string();
  ASSERT_EQ(run_predict(p), 0);
  p.run = (kRoot / "model_b").string();
  p.out = (kRoot / "b.csv").string();
  ASSERT_EQ(run_predict(p), 0);
  const auto ens = predictions(kRoot / "ens.csv");
  const auto a = predictions(kRoot / "a.csv");
  const auto b = predictions(kRoot / "b.csv");
  ASSERT_EQ(ens.size(), a.size());
  ASSERT_GT(ens.size(), 10u);
  double maxdiff = 0.0;
  for (const auto& [file, probs] : ens)
    for (int k = 0; k < 2; ++k) maxdiff = std::max(maxdiff, std::abs(probs[k] - (0.75 * a.at(file)[k] + 0.25 * b.at(file)[k])));
  std::printf("ensemble predict vs the soft vote of its members' predict: maxdiff %.2e\n", maxdiff);
  EXPECT_LT(maxdiff, 2e-6);  // the CSVs round to 6 significant digits
}

}  // namespace
}  // namespace cellcam::train
