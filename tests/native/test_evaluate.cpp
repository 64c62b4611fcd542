// test_evaluate.cpp — `cellcam eval` and `cellcam predict` on a tiny run trained once for the suite
// (2 epochs at 24 px on the smoke set: the numbers only have to agree, not to be good).
// What must hold: eval on the run's test split reproduces the training report; predict gives the very
// probabilities eval gives for the same file (same preprocessing, same threshold); a broken file gets
// an error row and never stops the others; data with other classes is refused with a clear message.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "calibrate.h"
#include "calibration.h"
#include "dataset.h"
#include "eval.h"
#include "predict.h"
#include "trainer.h"

namespace cellcam::train {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::string kSmoke = std::string(CELLCAM_TEST_DATA_DIR) + "/train_smoke";

std::string read(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<data::CsvRow> read_csv(const fs::path& p) {
  Result<std::vector<data::CsvRow>> rows = data::read_csv_file(p.string());
  EXPECT_TRUE(rows.ok()) << p;
  return rows ? rows.value() : std::vector<data::CsvRow>{};
}

class Evaluate : public ::testing::Test {
 protected:
  // Once for the whole program: Predict's fixture reuses this run.
  static void SetUpTestSuite() {
    if (run_) return;
    run_ = new fs::path(fs::temp_directory_path() / "cellcam_eval_run");
    fs::remove_all(*run_);
    TrainSettings s;
    s.data = kSmoke;
    s.out = run_->string();
    s.preset = "malaria_bn_se";
    s.image_size = 24;
    s.epochs = 2;
    s.batch_size = 8;
    s.augment = "hflip,vflip,rot90";
    s.positive_class = "Parasitized";  // model order (Uninfected, Parasitized) differs from the folders' order
    s.val_fraction = 0.25;
    s.test_fraction = 0.25;
    s.patience = 0;
    s.threads = 2;
    s.workers = 1;
    train_rc_ = run_train(s);
  }
  void SetUp() override { ASSERT_EQ(train_rc_, 0) << "the suite's training run failed"; }

  static fs::path run() { return *run_; }
  static fs::path scratch(const std::string& name) {
    const fs::path p = fs::temp_directory_path() / ("cellcam_eval_" + name);
    fs::remove_all(p);
    return p;
  }

  static fs::path* run_;
  static int train_rc_;
};
fs::path* Evaluate::run_ = nullptr;
int Evaluate::train_rc_ = -1;

TEST_F(Evaluate, TestSplitReproducesTheTrainingReport) {
  EvalSettings s;
  s.run = run().string();
  s.threads = 2;
  ASSERT_EQ(run_eval(s), 0);
  const json report = json::parse(read(run() / "report.json"));
  const json eval = json::parse(read(run() / "eval" / "eval.json"));
  EXPECT_DOUBLE_EQ(eval["accuracy"].get<double>(), report["test"]["accuracy"].get<double>());
  EXPECT_NEAR(eval["loss"].get<double>(), report["test"]["loss"].get<double>(), 1e-5);
  EXPECT_EQ(eval["confusion"]["counts"], report["test"]["confusion"]["counts"]);
  EXPECT_DOUBLE_EQ(eval["threshold"]["value"].get<double>(), report["threshold"]["value"].get<double>());
  EXPECT_EQ(eval["threshold"]["source"], "report.json");
  EXPECT_EQ(eval["checkpoint"]["name"], "best");
  EXPECT_EQ(eval["data"]["part"], "test");
  EXPECT_EQ(eval["counts"]["evaluated"].get<int>(), eval["counts"]["listed"].get<int>());
  EXPECT_EQ(eval["counts"]["skipped"].get<int>(), 0);
  EXPECT_TRUE(eval["skipped"].empty());
  // One row per evaluated image, with the decision eval.json counted.
  const std::vector<data::CsvRow> rows = read_csv(run() / "eval" / "predictions.csv");
  ASSERT_EQ(rows.size(), eval["counts"]["evaluated"].get<std::size_t>() + 1);
  EXPECT_EQ(rows[0].fields, (std::vector<std::string>{"file", "label", "p_Uninfected", "p_Parasitized", "predicted", "correct"}));
  int correct = 0;
  for (std::size_t i = 1; i < rows.size(); ++i) correct += rows[i].fields.at(5) == "1";
  EXPECT_DOUBLE_EQ(static_cast<double>(correct) / (rows.size() - 1), eval["accuracy"].get<double>());
}

TEST_F(Evaluate, TtaAddsTheViewsDisagreementAsASecondReferralCurve) {
  EvalSettings s;
  s.run = run().string();
  s.tta = true;
  s.out = scratch("tta").string();
  s.threads = 2;
  ASSERT_EQ(run_eval(s), 0);
  const json eval = json::parse(read(fs::path(s.out) / "eval.json"));
  EXPECT_EQ(eval["tta"], true);
  const json& curve = eval["referral"]["tta_disagreement"]["curve"];
  ASSERT_GE(curve.size(), 2u);
  EXPECT_DOUBLE_EQ(curve[0]["referred"].get<double>(), 0.0);
  EXPECT_DOUBLE_EQ(curve[0]["accuracy"].get<double>(), eval["accuracy"].get<double>());  // nothing referred: all kept
  for (const json& pt : curve) {
    EXPECT_GE(pt["accuracy"].get<double>(), 0.0);
    EXPECT_LE(pt["accuracy"].get<double>(), 1.0);
  }
  // Without TTA there is one view, so no such curve.
  EvalSettings plain = s;
  plain.tta = false;
  plain.out = scratch("no_tta").string();
  ASSERT_EQ(run_eval(plain), 0);
  EXPECT_FALSE(json::parse(read(fs::path(plain.out) / "eval.json"))["referral"].contains("tta_disagreement"));
}

TEST_F(Evaluate, AnyDatasetWithTheSameClassesIsEvaluatedEntirely) {
  EvalSettings s;
  s.run = run().string();
  s.data = kSmoke + "/manifest.csv";
  s.checkpoint = "last";
  s.out = scratch("all").string();
  s.threads = 2;
  ASSERT_EQ(run_eval(s), 0);
  const json eval = json::parse(read(fs::path(s.out) / "eval.json"));
  EXPECT_EQ(eval["data"]["part"], "all");
  EXPECT_EQ(eval["checkpoint"]["name"], "last");
  EXPECT_EQ(eval["checkpoint"]["epoch"], 2);
  EXPECT_EQ(eval["counts"]["evaluated"], 80);
  EXPECT_EQ(eval["counts"]["per_class"]["Parasitized"].get<int>() + eval["counts"]["per_class"]["Uninfected"].get<int>(), 80);
}

TEST_F(Evaluate, DataWithOtherClassesIsAClearError) {
  const fs::path data = scratch("blood");
  for (const char* c : {"lymphocyte", "neutrophil"}) fs::create_directories(data / c);
  fs::copy_file(fs::path(CELLCAM_TEST_DATA_DIR) / "blood/lymphocyte_LY_104129.jpg", data / "lymphocyte/a.jpg");
  fs::copy_file(fs::path(CELLCAM_TEST_DATA_DIR) / "blood/neutrophil_BNE_106934.jpg", data / "neutrophil/b.jpg");
  EvalSettings s;
  s.run = run().string();
  s.data = data.string();
  s.out = scratch("blood_out").string();
  testing::internal::CaptureStderr();
  EXPECT_EQ(run_eval(s), 1);
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("lymphocyte, neutrophil"), std::string::npos) << err;
  EXPECT_NE(err.find("differ from the model's (Uninfected, Parasitized)"), std::string::npos) << err;
  EXPECT_FALSE(fs::exists(fs::path(s.out) / "eval.json"));
}

TEST_F(Evaluate, MissingRunOrCheckpointIsAClearError) {
  EvalSettings e;
  e.run = "/nonexistent/run";
  testing::internal::CaptureStderr();
  EXPECT_EQ(run_eval(e), 1);
  EXPECT_NE(testing::internal::GetCapturedStderr().find("is not a run folder"), std::string::npos);
  PredictSettings p;
  p.run = run().string();
  p.checkpoint = "/nonexistent/model.pt";
  p.inputs = {kSmoke};
  p.out = scratch("missing.csv").string();
  testing::internal::CaptureStderr();
  EXPECT_EQ(run_predict(p), 1);
  EXPECT_NE(testing::internal::GetCapturedStderr().find("no checkpoint /nonexistent/model.pt"), std::string::npos);
  EXPECT_FALSE(fs::exists(p.out));
}

// cellcam calibrate on a copy of the run: a temperature fitted on validation that keeps every decision,
// moves the probabilities as sigmoid(logit(p) / T), and that eval then applies and reports.
TEST_F(Evaluate, CalibrateFitsATemperatureThatKeepsEveryDecision) {
  const fs::path copy = scratch("calibrated_run");
  fs::copy(run(), copy, fs::copy_options::recursive);
  fs::remove_all(copy / "eval");
  CalibrateSettings c;
  c.run = copy.string();
  c.threads = 2;
  ASSERT_EQ(run_calibrate(c), 0);
  const json cal = json::parse(read(copy / "calibration.json"));
  const double t = cal["temperature"].get<double>();
  EXPECT_GT(t, 0.05);
  EXPECT_LT(t, 20.0);
  EXPECT_LE(cal["val"]["nll_after"].get<double>(), cal["val"]["nll_before"].get<double>() + 1e-9);
  EXPECT_EQ(cal["fitted_on"]["part"], "val");
  EXPECT_TRUE(fs::exists(copy / "calibration_reliability.png"));
  // The review band, chosen on the same validation predictions.
  const std::vector<double> band = cal["review_band"]["band"].get<std::vector<double>>();
  ASSERT_EQ(band.size(), 2u);
  EXPECT_LE(band[0], band[1]);
  EXPECT_LE(cal["review_band"]["val_referred_share"].get<double>(), 0.3 + 1e-12);

  EvalSettings before, after;
  before.run = run().string();
  before.out = scratch("uncalibrated").string();
  after.run = copy.string();
  after.out = scratch("calibrated").string();
  before.threads = after.threads = 2;
  ASSERT_EQ(run_eval(before), 0);
  ASSERT_EQ(run_eval(after), 0);
  const json a = json::parse(read(fs::path(before.out) / "eval.json")), b = json::parse(read(fs::path(after.out) / "eval.json"));
  EXPECT_EQ(a["confusion"]["counts"], b["confusion"]["counts"]);  // the same decisions
  EXPECT_DOUBLE_EQ(a["temperature"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(b["temperature"].get<double>(), t);
  // threshold_at, or about 1e-6 under it where the boundary image needs it (threshold_keeping_decisions).
  EXPECT_NEAR(b["threshold"]["value"].get<double>(), threshold_at(a["threshold"]["value"].get<double>(), t), 2e-6);
  ASSERT_TRUE(b["calibration"].contains("ece_before_temperature"));
  EXPECT_NEAR(b["calibration"]["ece_before_temperature"].get<double>(), a["calibration"]["ece"].get<double>(), 1e-6);
  // eval: the referral curve always, the band's effect once calibrate chose one.
  EXPECT_FALSE(a["referral"].contains("review_band"));
  ASSERT_TRUE(b["referral"].contains("review_band"));
  EXPECT_EQ(b["referral"]["review_band"]["band"].get<std::vector<double>>(), band);
  EXPECT_DOUBLE_EQ(b["referral"]["curve"][0]["accuracy"].get<double>(), b["accuracy"].get<double>());
  EXPECT_TRUE(fs::exists(fs::path(after.out) / "referral.png"));
  const std::vector<data::CsvRow> ra = read_csv(fs::path(before.out) / "predictions.csv"), rb = read_csv(fs::path(after.out) / "predictions.csv");
  ASSERT_EQ(ra.size(), rb.size());
  for (std::size_t i = 1; i < ra.size(); ++i) {
    const double pa = std::stod(ra[i].fields.at(3)), pb = std::stod(rb[i].fields.at(3));
    EXPECT_NEAR(pb, 1.0 / (1.0 + std::exp(-std::log(pa / (1.0 - pa)) / t)), 1e-4) << "row " << i;
  }
  // A missing run is a clear error.
  CalibrateSettings bad;
  bad.run = "/nonexistent/run";
  testing::internal::CaptureStderr();
  EXPECT_EQ(run_calibrate(bad), 1);
  EXPECT_NE(testing::internal::GetCapturedStderr().find("is not a run folder"), std::string::npos);
}

// Two test-split images and a broken file in one folder.
class Predict : public Evaluate {
 protected:
  void SetUp() override {
    Evaluate::SetUp();
    // eval's per-image rows are the reference for what predict must give.
    EvalSettings e;
    e.run = run().string();
    e.out = scratch("reference").string();
    e.threads = 2;
    ASSERT_EQ(run_eval(e), 0);
    const std::vector<data::CsvRow> rows = read_csv(fs::path(e.out) / "predictions.csv");
    ASSERT_GE(rows.size(), 3u);
    folder_ = scratch("inputs");
    fs::create_directories(folder_ / "sub");
    for (std::size_t i = 1; i <= 2; ++i) {
      const fs::path source = rows[i].fields.at(0);
      // One in a sub-folder: folders are searched recursively.
      fs::copy_file(source, folder_ / (i == 1 ? "" : "sub") / source.filename());
      reference_[source.stem().string()] = rows[i].fields;
    }
    std::ofstream(folder_ / "broken.png") << "this is not a PNG";
    std::ofstream(folder_ / "notes.txt") << "not an image name: ignored";
  }
  fs::path folder_;
  std::map<std::string, std::vector<std::string>> reference_;  // stem -> eval's row
};

TEST_F(Predict, ARowPerInputAndABrokenFileDoesNotStopTheOthers) {
  PredictSettings s;
  s.run = run().string();
  s.inputs = {folder_.string()};
  s.out = (scratch("out") / "nested" / "predictions.csv").string();
  s.threads = 2;
  EXPECT_EQ(run_predict(s), 2);
  const std::vector<data::CsvRow> rows = read_csv(s.out);
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0].fields, (std::vector<std::string>{"file", "p_Uninfected", "p_Parasitized", "predicted", "review", "error", "tiles"}));
  int broken = 0;
  for (std::size_t i = 1; i < rows.size(); ++i) {
    const std::vector<std::string>& f = rows[i].fields;
    ASSERT_EQ(f.size(), 7u);
    const std::string stem = fs::path(f[0]).stem().string();
    if (stem == "broken") {
      ++broken;
      EXPECT_EQ(f[1], "");
      EXPECT_EQ(f[2], "");
      EXPECT_EQ(f[3], "");
      EXPECT_FALSE(f[5].empty());
      continue;
    }
    ASSERT_TRUE(reference_.count(stem)) << f[0];
    const std::vector<std::string>& ref = reference_[stem];
    EXPECT_NEAR(std::stod(f[1]) + std::stod(f[2]), 1.0, 1e-5);
    EXPECT_NEAR(std::stod(f[1]), std::stod(ref[2]), 1e-5) << "predict and eval disagree on " << stem;
    EXPECT_NEAR(std::stod(f[2]), std::stod(ref[3]), 1e-5) << "predict and eval disagree on " << stem;
    EXPECT_EQ(f[3], ref[4]);
    EXPECT_TRUE(f[4] == "true" || f[4] == "false");
    EXPECT_EQ(f[5], "");
    EXPECT_EQ(f[6], "0");  // cell crops are classified whole
  }
  EXPECT_EQ(broken, 1);
}

TEST_F(Predict, KaggleSubmissionLeavesErrorsOut) {
  PredictSettings s;
  s.run = run().string();
  s.inputs = {folder_.string()};
  s.out = scratch("submission.csv").string();
  s.kaggle = true;
  s.threads = 2;
  testing::internal::CaptureStderr();
  EXPECT_EQ(run_predict(s), 2);
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("broken.png: error:"), std::string::npos) << err;
  const std::vector<data::CsvRow> rows = read_csv(s.out);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].fields, (std::vector<std::string>{"id", "label"}));
  for (std::size_t i = 1; i < rows.size(); ++i) {
    ASSERT_EQ(rows[i].fields.size(), 2u);
    ASSERT_TRUE(reference_.count(rows[i].fields[0])) << rows[i].fields[0];
    EXPECT_NEAR(std::stod(rows[i].fields[1]), std::stod(reference_[rows[i].fields[0]][3]), 1e-5);  // P(classes[1])
  }
}

TEST_F(Predict, AllGoodInputsExitZero) {
  PredictSettings s;
  s.run = run().string();
  for (const auto& entry : fs::recursive_directory_iterator(folder_))
    if (entry.path().extension() == ".png" && entry.path().stem() != "broken") s.inputs.push_back(entry.path().string());
  ASSERT_EQ(s.inputs.size(), 2u);
  s.out = scratch("good.csv").string();
  s.batch_size = 1;  // a batch of one gives the numbers of a full batch (eval mode: no batch statistics)
  EXPECT_EQ(run_predict(s), 0);
  const std::vector<data::CsvRow> rows = read_csv(s.out);
  ASSERT_EQ(rows.size(), 3u);
  for (std::size_t i = 1; i < rows.size(); ++i) {
    const std::string stem = fs::path(rows[i].fields.at(0)).stem().string();
    ASSERT_TRUE(reference_.count(stem)) << stem;
    EXPECT_NEAR(std::stod(rows[i].fields.at(2)), std::stod(reference_[stem][3]), 1e-5);
  }
}

}  // namespace
}  // namespace cellcam::train
