// schedule.h — learning-rate schedules for the trainer, as plain functions of the optimizer step.
//
// LibTorch's C++ API ships only StepLR and ReduceLROnPlateau, so every schedule lives here and the
// trainer sets the optimizer's lr itself before each step. The formulas follow the Python libraries the
// settings come from (PyTorch's StepLR/OneCycleLR/ReduceLROnPlateau, Keras's InverseTimeDecay) so a
// run can be compared with a Python one. `step` counts from 0 (the lr of the first optimizer step) and
// is whatever unit the trainer chooses (batches or epochs), as long as total_steps uses the same one.
// Pure C++17, no LibTorch; invalid settings are Errors from validate(), never exceptions.
#pragma once

#include <string>

#include "cellcam/error.h"

namespace cellcam::train {

enum class ScheduleKind { kConstant, kStep, kInverseTime, kCosineWarmup, kOneCycle, kReduceOnPlateau };

// Every schedule's settings in one struct so one config/CLI surface can fill it; each kind reads only its
// own fields. Defaults are the source libraries' defaults where they have one.
struct ScheduleSpec {
  ScheduleKind kind = ScheduleKind::kConstant;
  double base_lr = 1e-3;  // Adam's default; the starting lr of every kind except one_cycle

  // cosine and one_cycle: length of the whole schedule. 0 = not set: the trainer knows it (epochs x
  // batches per epoch) and validate() refuses those kinds until it is filled in.
  long total_steps = 0;

  // step: base_lr * gamma^floor(step / step_size). PyTorch StepLR's gamma default.
  long step_size = 10;
  double gamma = 0.1;

  // inverse_time (Keras InverseTimeDecay, staircase=False): base_lr / (1 + decay_rate * step / decay_steps).
  // With these defaults the lr halves after 1000 steps.
  double decay_rate = 1.0;
  long decay_steps = 1000;

  // cosine: linear warm-up over warmup_steps, then cosine from base_lr down to min_lr at total_steps.
  long warmup_steps = 0;
  double min_lr = 0.0;  // also the floor of plateau (PyTorch's default 0)

  // one_cycle (PyTorch OneCycleLR defaults): peaks at max_lr (base_lr is not used), starts at
  // max_lr / div_factor, ends at that / final_div_factor; rises for pct_start of total_steps.
  double max_lr = 1e-2;
  double pct_start = 0.3;
  double div_factor = 25.0;
  double final_div_factor = 1e4;

  // plateau (PyTorch ReduceLROnPlateau defaults, threshold_mode 'rel', cooldown 0): multiply the lr by
  // factor after more than `patience` epochs without a relative improvement of `threshold`.
  double factor = 0.1;
  int patience = 10;
  double threshold = 1e-4;
};

// "constant", "step", "inverse_time", "cosine", "one_cycle" or "plateau" -> that kind with the defaults.
Result<ScheduleSpec> parse_schedule(const std::string& name);

// The name parse_schedule accepts for `kind`.
const char* schedule_name(ScheduleKind kind);

// true, or an Error naming the first field of this kind that is out of range.
Result<bool> validate(const ScheduleSpec& spec);

// The lr for optimizer step `step` (negative steps count as 0). A spec that fails validate() gives NaN,
// so a misconfigured run fails loudly instead of training with a made-up rate. For kReduceOnPlateau this
// is base_lr: the decayed rate depends on observed losses and comes from ReduceOnPlateau.
// Past the end of cosine and one_cycle the final lr holds (PyTorch's OneCycleLR raises after total_steps).
double lr_at(const ScheduleSpec& spec, long step);

// Whether the monitored value should fall (a loss) or rise (accuracy, AUC).
enum class PlateauMode { kMin, kMax };

// ReduceLROnPlateau, stateful: call observe() once per epoch with the validation value.
class ReduceOnPlateau {
 public:
  // The spec must be kind kReduceOnPlateau and pass validate(). The mode is separate from the spec
  // because it belongs to what the trainer monitors, not to the schedule.
  static Result<ReduceOnPlateau> create(const ScheduleSpec& spec, PlateauMode mode = PlateauMode::kMin);

  // Records one epoch's value and returns the lr for the next epoch. A NaN value is never an
  // improvement, so it counts as a bad epoch (as in PyTorch).
  double observe(double value);

  double lr() const { return lr_; }
  double best() const { return best_; }
  int bad_epochs() const { return bad_epochs_; }

 private:
  ReduceOnPlateau(const ScheduleSpec& spec, PlateauMode mode);
  bool improves(double value) const;

  PlateauMode mode_;
  double factor_;
  int patience_;
  double threshold_;
  double min_lr_;
  double lr_;
  double best_;
  int bad_epochs_ = 0;
};

}  // namespace cellcam::train
