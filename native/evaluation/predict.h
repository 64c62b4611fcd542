// predict.h — `cellcam predict`: image files or folders -> one CSV row per input (class probabilities,
// predicted class), or a Kaggle submission (id,label). The model is a run folder, an exported model folder
// or an ensemble folder (`cellcam ensemble`), whose members' probabilities combine as its model.json says.
// Binary models decide at the threshold chosen on validation (report.json / model.json).
// An unreadable image never stops it: it gets its own error row and the rest go on.
// Exit codes as every subcommand: 0 done, 1 usage or setup error, 2 some inputs failed.
// Constraint: LibTorch stays inside predict.cpp (this header is torch-free).
#pragma once

#include <string>
#include <vector>

namespace cellcam::train {

struct PredictSettings {
  std::string run;
  std::vector<std::string> inputs;  // files, or folders searched recursively for image files
  std::string out = "predictions.csv";
  std::string checkpoint = "best";
  bool kaggle = false;              // id,label with label = P(classes[1]); two-class models only
  int batch_size = 128;
  int threads = 0;
  bool tta = false;
};

int run_predict(const PredictSettings& settings);

}  // namespace cellcam::train
