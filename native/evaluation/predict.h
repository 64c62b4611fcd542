// predict.h — `cellcam predict`: image files or folders -> one CSV row per input (class probabilities,
// predicted class, refer-for-review flag, error, tile count: the page's CSV columns), or a Kaggle submission (id,label). Every rule after
// the network is the page's (shared/: model_card, decision, ensemble, views, tiling), so the rows match. The model is a run folder, an exported model folder
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
  // Large images are classified tile by tile with the page's plan (tiling.h); 0 / -1: the model's defaults.
  int tile = 0;
  int stride = 0;
  int tile_above = -1;  // 0: never tile
  int max_tiles = 0;
};

int run_predict(const PredictSettings& settings);

}  // namespace cellcam::train
