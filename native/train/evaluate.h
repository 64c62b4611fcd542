// evaluate.h — `cellcam eval` and `cellcam predict`: a trained run folder (trainer.h) applied to data.
//
//   eval     a labelled dataset (the run's own test split by default) -> OUT/eval.json with the metrics,
//            95% bootstrap intervals and calibration (ECE), OUT/predictions.csv with one row per image,
//            OUT/confusion.png, reliability.png, roc.png (binary), and a summary on stdout.
//   calibrate see run_calibrate below.
//   predict  image files or folders -> one CSV row per input (class probabilities, predicted class),
//            or a Kaggle submission (id,label).
// Both use the run's model spec for preprocessing and, for binary models, the operating threshold the
// trainer chose on validation (report.json), so their numbers agree with the training report.
// An unreadable image never stops either command: it is reported and the rest go on.
// Exit codes as every subcommand: 0 done, 1 usage or setup error, 2 some inputs failed (predict).
// Constraint: LibTorch stays inside evaluate.cpp (this header is torch-free).
#pragma once

#include <string>
#include <vector>

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

// calibrate  temperature scaling of a run's best checkpoint, fitted on the run's own validation split:
//            RUN/calibration.json (temperature, the threshold moved to it, NLL and ECE before and after)
//            and RUN/calibration_reliability.png. eval, predict, gradcam and export then apply it.
//            It also chooses the review band (refer for review) on the same validation predictions: the
//            fewest referrals whose kept images reach --target-accuracy, at most --max-referral of them.
struct CalibrateSettings {
  std::string run;
  double target_accuracy = 0.98;  // on the images not referred (validation)
  double max_referral = 0.3;      // the most a band may refer (share of images)
  int batch_size = 128;
  int threads = 0;
};

int run_calibrate(const CalibrateSettings& settings);

}  // namespace cellcam::train
