// eval.h — `cellcam eval`: a trained run (or exported model) folder applied to labelled data.
//
//   a labelled dataset (the run's own test split by default) -> OUT/eval.json with the metrics, 95%
//   bootstrap intervals and calibration (ECE), OUT/predictions.csv with one row per image,
//   OUT/confusion.png, reliability.png, referral.png, roc.png (binary), and a summary on stdout.
// It uses the run's model spec for preprocessing and, for binary models, the operating threshold the
// trainer chose on validation (report.json), so its numbers agree with the training report.
// An unreadable image never stops it: it is reported and the rest go on.
// Exit codes as every subcommand: 0 done, 1 usage or setup error.
// Constraint: LibTorch stays inside eval.cpp (this header is torch-free).
#pragma once

#include <string>

namespace cellcam::train {

struct EvalSettings {
  std::string run;                  // run folder written by `cellcam train`
  std::string data;                 // labelled dataset to evaluate entirely; empty: the run's own test split
  std::string split;                // with data: evaluate one part of this split file (`cellcam split`)
  std::string part = "test";        // test | val: the part of the run's (or --split's) split to score
  std::string checkpoint = "best";  // best | last | a path to a .pt written by the trainer
  std::string out;                  // output folder; empty: RUN/eval
  int batch_size = 128;
  int threads = 0;                  // 0: all cores
  bool tta = false;                 // average the 8 flips/rotations (test-time augmentation)
  int bootstrap = 1000;             // resamples for the 95% confidence intervals
};

int run_eval(const EvalSettings& settings);

}  // namespace cellcam::train
