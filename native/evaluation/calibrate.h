// calibrate.h — `cellcam calibrate`: temperature scaling of a run's best checkpoint, fitted on the run's
// own validation split: RUN/calibration.json (temperature, the threshold moved to it, NLL and ECE before
// and after) and RUN/calibration_reliability.png. eval, predict, gradcam and export then apply it.
// It also chooses the review band (refer for review) on the same validation predictions: the fewest
// referrals whose kept images reach --target-accuracy, at most --max-referral of them.
// Exit codes as every subcommand: 0 done, 1 usage or setup error.
// Constraint: LibTorch stays inside calibrate.cpp (this header is torch-free).
#pragma once

#include <string>

namespace cellcam::train {

struct CalibrateSettings {
  std::string run;
  double target_accuracy = 0.98;  // on the images not referred (validation)
  double max_referral = 0.3;      // the most a band may refer (share of images)
  int batch_size = 128;
  int threads = 0;
};

int run_calibrate(const CalibrateSettings& settings);

}  // namespace cellcam::train
