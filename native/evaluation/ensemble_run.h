// ensemble_run.h — `cellcam ensemble`: several trained models (run folders or exported model folders)
// combined by soft voting and by stacking, scored against each member on the same held-out split.
//
//   OUT/ensemble.json   per member and per combination: test metrics with 95% bootstrap intervals, ECE,
//                       log-loss; the stacking meta-model; the referral rule chosen on validation and its
//                       effect on test
//   OUT/report.md       the same as a table;  OUT/roc.png (binary), OUT/referral.png
//   OUT/model.json + OUT/members/<i>/  the ensemble as one folder the page and `cellcam predict` run, when every member is
//                       an exported model folder with the same preprocessing
//
// Honesty rules, enforced here: the meta-model, the thresholds and the referral rule are fitted on the
// validation part only (stacking's own threshold on out-of-fold validation predictions); test is scored
// once. A run member whose training part overlaps the ensemble's validation or test part is refused.
// Constraint: this header is torch-free.
#pragma once

#include <string>
#include <vector>

namespace cellcam::train {

struct EnsembleSettings {
  std::vector<std::string> members;  // run folders (`cellcam train`) or model folders (`cellcam export`)
  std::string out;                   // output folder (required)
  std::string data;                  // labelled dataset; default: the first run member's
  std::string split;                 // split CSV with val and test parts; default: the first run member's split.csv
  std::vector<double> weights;       // soft-voting weights, one per member (empty: equal)
  std::string method = "auto";       // what the exported model.json applies: soft | stacking | auto (lower validation log-loss)
  bool tta = false;                  // each member averages the 8 flips/rotations
  double target_accuracy = 0.98;     // referral rule: accuracy wanted on the images kept (validation)
  double max_referral = 0.3;         // the largest share it may refer
  std::string name = "ensemble";
  std::string version = "1.0.0";
  int batch_size = 128;
  int threads = 0;                   // 0: all cores
  int bootstrap = 1000;
};

int run_ensemble(const EnsembleSettings& settings);

}  // namespace cellcam::train
