// test_cross_validation.cpp — the summary of a K-fold cross-validation against values worked out by
// hand (mean, sample SD, t-interval, Wilson interval), and the reading of a fold's report.json.
// The folds themselves (patients whole, each image tested once) are test_split's; a real K-fold run is
// test_train's.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>

#include "cross_validation.h"

namespace cellcam::train {
namespace {
namespace fs = std::filesystem;

FoldResult fold(int k, std::vector<long long> confusion, double sensitivity, double specificity) {
  FoldResult f;
  f.fold = k;
  f.classes = {"Uninfected", "Parasitized"};
  f.confusion = confusion;
  f.accuracy = static_cast<double>(confusion[0] + confusion[3]) / (confusion[0] + confusion[1] + confusion[2] + confusion[3]);
  f.roc_auc = 0.9 + 0.01 * k;
  f.macro_f1 = f.accuracy;
  f.sensitivity = sensitivity;
  f.specificity = specificity;
  return f;
}

TEST(CrossValidation, SummaryMatchesHandComputedStatistics) {
  // Accuracies 0.90, 0.80, 0.95: mean 0.88333, sample SD 0.076376, t(0.975, 2) = 4.303,
  // half-width 4.303 * 0.076376 / sqrt(3) = 0.189747. Pooled: 265 of 300 right.
  Result<CrossValidationSummary> r = summarise_folds({fold(1, {45, 5, 5, 45}, 0.9, 0.9), fold(2, {40, 10, 10, 40}, 0.8, 0.8),
                                                      fold(3, {48, 2, 3, 47}, 0.94, 0.96)});
  ASSERT_TRUE(r.ok()) << r.error().message;
  const CrossValidationSummary& c = r.value();
  EXPECT_EQ(c.folds, 3);
  EXPECT_EQ(c.images, 300);
  EXPECT_NEAR(c.accuracy.mean, 0.883333, 1e-6);
  EXPECT_NEAR(c.accuracy.sd, 0.076376, 1e-6);
  EXPECT_NEAR(c.accuracy.lo, 0.883333 - 0.189747, 1e-5);
  EXPECT_DOUBLE_EQ(c.accuracy.hi, 1.0);  // 0.883333 + 0.189747 = 1.073, clipped: accuracy cannot pass 1
  EXPECT_NEAR(c.roc_auc.mean, 0.92, 1e-12);
  EXPECT_NEAR(c.sensitivity.mean, 0.88, 1e-12);
  EXPECT_NEAR(c.specificity.mean, 0.886667, 1e-6);
  EXPECT_EQ(c.pooled_confusion, (std::vector<long long>{133, 17, 18, 132}));
  EXPECT_NEAR(c.pooled_accuracy, 265.0 / 300, 1e-12);
  // Wilson score interval for 265/300 at z = 1.96.
  EXPECT_NEAR(c.pooled_lo, 0.842067, 1e-5);
  EXPECT_NEAR(c.pooled_hi, 0.914907, 1e-5);
}

TEST(CrossValidation, SummaryRefusesOneFoldOrMixedClasses) {
  EXPECT_FALSE(summarise_folds({fold(1, {45, 5, 5, 45}, 0.9, 0.9)}).ok());
  FoldResult other = fold(2, {45, 5, 5, 45}, 0.9, 0.9);
  other.classes = {"a", "b"};
  Result<CrossValidationSummary> r = summarise_folds({fold(1, {45, 5, 5, 45}, 0.9, 0.9), other});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("different classes"), std::string::npos) << r.error().message;
  FoldResult cut = fold(2, {45, 5, 5, 45}, 0.9, 0.9);
  cut.confusion.pop_back();  // 3 counts for 2 classes
  EXPECT_FALSE(summarise_folds({fold(1, {45, 5, 5, 45}, 0.9, 0.9), cut}).ok());
}

TEST(CrossValidation, ReadsAFoldReportAndRejectsOneWithoutTestMetrics) {
  const fs::path dir = fs::temp_directory_path() / ("cellcam_cv_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const fs::path good = dir / "report.json", bad = dir / "bad.json";
  std::ofstream(good) << R"({"classes": ["Uninfected", "Parasitized"], "test": {"accuracy": 0.95,
    "confusion": {"counts": [600, 75, 0, 675]}, "roc_auc": 0.99, "macro": {"f1": 0.94},
    "per_class": [{"recall": 0.889, "specificity": 1.0}, {"recall": 1.0, "specificity": 0.889}]}})";
  std::ofstream(bad) << R"({"classes": ["Uninfected", "Parasitized"], "validation": {}})";
  Result<FoldResult> f = read_fold_result(good.string(), 3);
  ASSERT_TRUE(f.ok()) << f.error().message;
  EXPECT_EQ(f.value().fold, 3);
  EXPECT_EQ(f.value().confusion, (std::vector<long long>{600, 75, 0, 675}));
  EXPECT_DOUBLE_EQ(f.value().sensitivity, 1.0);
  EXPECT_DOUBLE_EQ(f.value().specificity, 0.889);
  Result<FoldResult> b = read_fold_result(bad.string(), 1);
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.error().message.find("no test metrics"), std::string::npos) << b.error().message;
  EXPECT_FALSE(read_fold_result((dir / "missing.json").string(), 1).ok());
  fs::remove_all(dir);
}

}  // namespace
}  // namespace cellcam::train
