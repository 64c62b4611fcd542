// finetune.h — `cellcam finetune MODEL DATA`: continue a trained model on reviewed images (issue 17).
//
// MODEL is an exported model folder (model.json + weights.pt) or a run folder; DATA is usually the page's
// reviewed-set ZIP (reviewed_set.h) or its unpacked folder, but any dataset `cellcam train` reads works.
// It is `cellcam train` (trainer.h) with: the base model's spec (architecture, preprocessing, classes in
// its order), its weights as the start (--init-from), and fine-tuning defaults (finetune_defaults()).
// The run folder is a training run like any other (`cellcam export`, `eval`, `train --resume`), plus:
//   finetune_data.csv   what was trained on: the reviewed images, and with --mix original training images
//                       (path,label,group,source; groups prefixed reviewed/ and original/)
//   base_spec.json      the base model's spec
//   finetune.json       base model (name@version, SHA-256), reviewed set (review.json's model and counts),
//                       mix, and the before/after table; `cellcam export` copies it into model.json
//                       ("finetuned") and the drafted README.
// A binary model keeps the base model's operating threshold (moved to temperature 1, as the fine-tuned
// run is uncalibrated): the reviewed set's validation part is usually too small to choose one
// (--rethreshold chooses it there anyway; `cellcam calibrate` works on the run as on any).
// Before/after: the base model and the fine-tuned one on (a) the original test split (a run folder's
// split.csv, or for an exported model --original DATA split as `cellcam train` split it: seed 42, by
// patient) and (b) the reviewed set's held-out test part (split by group where the manifest gives one,
// else image by image). On the console, in report.json ("finetune") and report.md.
// Exit codes: 0 done, 1 usage or setup error. When the original test accuracy falls by more than --max-drop
// the run is kept with a warning, its finetune.json says "degraded", and `cellcam export` refuses it
// without --accept-drop.
#pragma once

#include <string>

#include "trainer.h"

namespace cellcam::train {

struct FinetuneSettings {
  std::string model;           // exported model folder or run folder
  std::string original;        // the base model's own data: its test split is scored before and after
  std::string original_split;  // split.csv of `original` (default: a run's own, else the seed split reproduced)
  std::uint64_t original_seed = 42;
  std::string mix;             // mix in training images of this data (the original's training part only)
  double mix_ratio = 1.0;      // original training images per reviewed image (capped at what there is)
  bool rethreshold = false;    // binary: choose the threshold on the (small) validation part instead of keeping the base's
  double max_drop = 0.02;      // warn, and export refuses, when original test accuracy falls by more than this
  TrainSettings train;         // data = the reviewed set; out, lr, epochs, ... (finetune_defaults())
};

// TrainSettings with fine-tuning's defaults: lr 1e-4, 5 epochs, no warm-up, cosine, batch 32, flips and
// 90-degree rotations only, patience 0, val/test 0.2 each (of the reviewed set), out runs/finetune.
TrainSettings finetune_defaults();

int run_finetune(const FinetuneSettings& settings);

}  // namespace cellcam::train
