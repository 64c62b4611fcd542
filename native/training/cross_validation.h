// cross_validation.h — `cellcam train --folds K`: one run per fold of a K-fold cross-validation split
// by patient (data::cross_validation_split), then OUT/cv_report.json and OUT/cv_report.md.
//
// Why: one test part of 15% holds a few dozen patients, and on malaria a single patient can hold 20% of
// it; the accuracy of one split says as much about which patients landed in test as about the recipe.
// Over K folds every image is tested exactly once, by a model that never saw its patient.
//
//   OUT/config.json             the settings (so `--resume OUT` continues the folds)
//   OUT/fold-1 .. OUT/fold-K    ordinary run folders (each resumable on its own)
//   OUT/cv_report.{json,md}     each fold's test metrics, their mean, spread and 95% t-interval, and the
//                               pooled confusion matrix of all K test parts
//   OUT/cv_accuracy.png         each fold's test accuracy (binary: sensitivity, specificity) and the mean
//   OUT/confusion_pooled.png    the pooled confusion matrix
// Torch-free: it drives run_train and reads the folds' report.json.
#pragma once

#include <string>
#include <vector>

#include "cellcam/error.h"
#include "trainer.h"

namespace cellcam::train {

// One fold's test result at its own validation-chosen threshold, as its report.json states it.
struct FoldResult {
  int fold = 0;
  std::vector<std::string> classes;
  std::vector<long long> confusion;  // (C,C) row-major, rows = true class
  double accuracy = 0.0, roc_auc = 0.0, macro_f1 = 0.0;
  double sensitivity = 0.0, specificity = 0.0;  // binary: of class 1 (the positive class)
};
Result<FoldResult> read_fold_result(const std::string& report_json_path, int fold);
// The same from report.json's text; `name` says where it came from in errors.
Result<FoldResult> fold_result_from_text(const std::string& text, const std::string& name, int fold);

struct MeanSpread {
  double mean = 0.0, sd = 0.0;  // sd: sample standard deviation over folds
  double lo = 0.0, hi = 0.0;    // 95% t-interval of the mean over folds, clipped to [0, 1]
};
struct CrossValidationSummary {
  int folds = 0;
  long long images = 0;
  MeanSpread accuracy, roc_auc, macro_f1, sensitivity, specificity;
  std::vector<long long> pooled_confusion;  // sum of the folds' matrices
  double pooled_accuracy = 0.0;             // correct / images over all folds
  double pooled_lo = 0.0, pooled_hi = 0.0;  // Wilson 95% interval, images taken as independent
};
// Folds must share the classes; two folds at least.
Result<CrossValidationSummary> summarise_folds(const std::vector<FoldResult>& folds);

// Runs (or resumes) every fold of settings.folds into settings.out/fold-<k>, then writes the report.
// In a distributed run (`group` of several ranks) the folds are spread over the ranks, fold k on rank
// (k - 1) % world, each trained alone (no all-reduce: folds are independent); every rank sends its folds'
// reports to rank 0 through the store, and rank 0 writes the summary.
int run_cross_validation(const TrainSettings& settings, dist::Group& group);

}  // namespace cellcam::train
