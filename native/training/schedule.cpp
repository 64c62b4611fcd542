// schedule.cpp — learning-rate schedules; the formulas and defaults are documented in schedule.h.
//
// The one-cycle and plateau code mirrors PyTorch's arithmetic operation for operation (same phase
// boundaries in double, same annealing expression, same 1e-8 minimum decay), so the two agree to the
// last bit or close to it, not just in shape.
#include "schedule.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>

namespace cellcam::train {
namespace {

constexpr double kPi = 3.141592653589793;  // Python's math.pi
// PyTorch ReduceLROnPlateau's eps: a reduction smaller than this is ignored (the floor is reached).
constexpr double kMinimumDecay = 1e-8;

struct NamedKind {
  const char* name;
  ScheduleKind kind;
};
constexpr NamedKind kNames[] = {
    {"constant", ScheduleKind::kConstant},
    {"step", ScheduleKind::kStep},
    {"inverse_time", ScheduleKind::kInverseTime},
    {"cosine", ScheduleKind::kCosineWarmup},
    {"one_cycle", ScheduleKind::kOneCycle},
    {"plateau", ScheduleKind::kReduceOnPlateau},
};

std::string format(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%g", value);
  return buffer;
}

Error bad_setting(ScheduleKind kind, const std::string& what) {
  return make_error(ErrorCode::kInvalidArgument, std::string(schedule_name(kind)) + " schedule: " + what);
}

// Both are false for NaN and infinity, so a garbled config value is refused rather than propagated.
bool positive(double x) { return x > 0.0 && std::isfinite(x); }
bool non_negative(double x) { return x >= 0.0 && std::isfinite(x); }

Result<bool> check_base_lr(const ScheduleSpec& spec) {
  if (!positive(spec.base_lr)) return bad_setting(spec.kind, "base_lr must be positive, got " + format(spec.base_lr));
  return true;
}

Result<bool> check_step(const ScheduleSpec& spec) {
  if (spec.step_size < 1)
    return bad_setting(spec.kind, "step_size must be at least 1, got " + std::to_string(spec.step_size));
  // gamma > 1 would grow the lr: almost surely a typo such as 10 for 0.1.
  if (!(spec.gamma > 0.0 && spec.gamma <= 1.0))
    return bad_setting(spec.kind, "gamma must be in (0, 1], got " + format(spec.gamma));
  return true;
}

Result<bool> check_inverse_time(const ScheduleSpec& spec) {
  if (spec.decay_steps < 1)
    return bad_setting(spec.kind, "decay_steps must be at least 1, got " + std::to_string(spec.decay_steps));
  if (!non_negative(spec.decay_rate))
    return bad_setting(spec.kind, "decay_rate must be >= 0, got " + format(spec.decay_rate));
  return true;
}

Result<bool> check_total_steps(const ScheduleSpec& spec) {
  if (spec.total_steps < 1)
    return bad_setting(spec.kind, "total_steps must be set (at least 1), got " + std::to_string(spec.total_steps));
  return true;
}

Result<bool> check_cosine(const ScheduleSpec& spec) {
  if (spec.warmup_steps < 0 || spec.warmup_steps >= spec.total_steps)
    return bad_setting(spec.kind, "warmup_steps must be in [0, total_steps = " + std::to_string(spec.total_steps) +
                                      "), got " + std::to_string(spec.warmup_steps));
  if (!non_negative(spec.min_lr) || spec.min_lr > spec.base_lr)
    return bad_setting(spec.kind, "min_lr must be in [0, base_lr = " + format(spec.base_lr) + "], got " +
                                      format(spec.min_lr));
  return true;
}

Result<bool> check_one_cycle(const ScheduleSpec& spec) {
  if (!positive(spec.max_lr)) return bad_setting(spec.kind, "max_lr must be positive, got " + format(spec.max_lr));
  if (!(spec.pct_start > 0.0 && spec.pct_start < 1.0))
    return bad_setting(spec.kind, "pct_start must be in (0, 1), got " + format(spec.pct_start));
  // PyTorch divides by (pct_start * total_steps - 1): at 1 it fails, below 1 it silently skips the rise.
  const double rise_steps = spec.pct_start * static_cast<double>(spec.total_steps);
  if (!(rise_steps > 1.0))
    return bad_setting(spec.kind, "pct_start * total_steps must exceed 1 so the lr has steps to rise, got " +
                                      format(spec.pct_start) + " * " + std::to_string(spec.total_steps) + " = " +
                                      format(rise_steps));
  if (!positive(spec.div_factor))
    return bad_setting(spec.kind, "div_factor must be positive, got " + format(spec.div_factor));
  if (!positive(spec.final_div_factor))
    return bad_setting(spec.kind, "final_div_factor must be positive, got " + format(spec.final_div_factor));
  return true;
}

Result<bool> check_plateau(const ScheduleSpec& spec) {
  if (!(spec.factor > 0.0 && spec.factor < 1.0))
    return bad_setting(spec.kind, "factor must be in (0, 1), got " + format(spec.factor));
  if (spec.patience < 0) return bad_setting(spec.kind, "patience must be >= 0, got " + std::to_string(spec.patience));
  // At threshold 1 the 'min' comparison becomes best * 0: nothing would ever count as better.
  if (!(spec.threshold >= 0.0 && spec.threshold < 1.0))
    return bad_setting(spec.kind, "threshold must be in [0, 1), got " + format(spec.threshold));
  if (!non_negative(spec.min_lr)) return bad_setting(spec.kind, "min_lr must be >= 0, got " + format(spec.min_lr));
  return true;
}

// PyTorch OneCycleLR._annealing_cos, same operation order.
double cosine_anneal(double start, double end, double pct) {
  const double cos_out = std::cos(kPi * pct) + 1.0;
  return end + (start - end) / 2.0 * cos_out;
}

double cosine_warmup_lr(const ScheduleSpec& spec, long step) {
  if (step < spec.warmup_steps)
    return spec.base_lr * static_cast<double>(step + 1) / static_cast<double>(spec.warmup_steps);
  if (step >= spec.total_steps) return spec.min_lr;
  const double progress =
      static_cast<double>(step - spec.warmup_steps) / static_cast<double>(spec.total_steps - spec.warmup_steps);
  return spec.min_lr + 0.5 * (spec.base_lr - spec.min_lr) * (1.0 + std::cos(kPi * progress));
}

// PyTorch OneCycleLR.get_lr with three_phase=False: phase ends at pct_start*total-1 and total-1, both
// in double, the second phase measured from the first's (possibly fractional) end.
double one_cycle_lr(const ScheduleSpec& spec, long step) {
  const double initial_lr = spec.max_lr / spec.div_factor;
  const double final_lr = initial_lr / spec.final_div_factor;
  const double rise_end = spec.pct_start * static_cast<double>(spec.total_steps) - 1.0;
  const double fall_end = static_cast<double>(spec.total_steps - 1);
  const double at = static_cast<double>(std::min(step, spec.total_steps - 1));
  if (at <= rise_end) return cosine_anneal(initial_lr, spec.max_lr, at / rise_end);
  return cosine_anneal(spec.max_lr, final_lr, (at - rise_end) / (fall_end - rise_end));
}

}  // namespace

Result<ScheduleSpec> parse_schedule(const std::string& name) {
  std::string allowed;
  for (const NamedKind& entry : kNames) {
    if (name == entry.name) {
      ScheduleSpec spec;
      spec.kind = entry.kind;
      return spec;
    }
    allowed += allowed.empty() ? entry.name : std::string(", ") + entry.name;
  }
  return make_error(ErrorCode::kInvalidArgument,
                    "unknown learning-rate schedule \"" + name + "\" (expected one of: " + allowed + ")");
}

const char* schedule_name(ScheduleKind kind) {
  for (const NamedKind& entry : kNames)
    if (entry.kind == kind) return entry.name;
  return "unknown";
}

Result<bool> validate(const ScheduleSpec& spec) {
  switch (spec.kind) {
    case ScheduleKind::kConstant:
      return check_base_lr(spec);
    case ScheduleKind::kStep: {
      Result<bool> base = check_base_lr(spec);
      return base.ok() ? check_step(spec) : base;
    }
    case ScheduleKind::kInverseTime: {
      Result<bool> base = check_base_lr(spec);
      return base.ok() ? check_inverse_time(spec) : base;
    }
    case ScheduleKind::kCosineWarmup: {
      Result<bool> base = check_base_lr(spec);
      if (!base.ok()) return base;
      Result<bool> total = check_total_steps(spec);
      return total.ok() ? check_cosine(spec) : total;
    }
    case ScheduleKind::kOneCycle: {
      Result<bool> total = check_total_steps(spec);
      return total.ok() ? check_one_cycle(spec) : total;
    }
    case ScheduleKind::kReduceOnPlateau: {
      Result<bool> base = check_base_lr(spec);
      return base.ok() ? check_plateau(spec) : base;
    }
  }
  return make_error(ErrorCode::kInvalidArgument,
                    "unknown schedule kind " + std::to_string(static_cast<int>(spec.kind)));
}

double lr_at(const ScheduleSpec& spec, long step) {
  if (!validate(spec).ok()) return std::numeric_limits<double>::quiet_NaN();
  step = std::max(step, 0L);
  switch (spec.kind) {
    case ScheduleKind::kConstant:
    case ScheduleKind::kReduceOnPlateau:
      return spec.base_lr;
    case ScheduleKind::kStep:
      return spec.base_lr * std::pow(spec.gamma, static_cast<double>(step / spec.step_size));
    case ScheduleKind::kInverseTime:
      return spec.base_lr / (1.0 + spec.decay_rate * static_cast<double>(step) / static_cast<double>(spec.decay_steps));
    case ScheduleKind::kCosineWarmup:
      return cosine_warmup_lr(spec, step);
    case ScheduleKind::kOneCycle:
      return one_cycle_lr(spec, step);
  }
  return std::numeric_limits<double>::quiet_NaN();
}

Result<ReduceOnPlateau> ReduceOnPlateau::create(const ScheduleSpec& spec, PlateauMode mode) {
  if (spec.kind != ScheduleKind::kReduceOnPlateau)
    return make_error(ErrorCode::kInvalidArgument,
                      std::string("ReduceOnPlateau needs a plateau schedule, got ") + schedule_name(spec.kind));
  Result<bool> valid = validate(spec);
  if (!valid.ok()) return valid.error();
  return ReduceOnPlateau(spec, mode);
}

ReduceOnPlateau::ReduceOnPlateau(const ScheduleSpec& spec, PlateauMode mode)
    : mode_(mode),
      factor_(spec.factor),
      patience_(spec.patience),
      threshold_(spec.threshold),
      min_lr_(spec.min_lr),
      lr_(spec.base_lr),
      best_(mode == PlateauMode::kMin ? std::numeric_limits<double>::infinity()
                                      : -std::numeric_limits<double>::infinity()) {}

// PyTorch's threshold_mode='rel': an improvement must beat best by a fraction `threshold` of best.
bool ReduceOnPlateau::improves(double value) const {
  if (mode_ == PlateauMode::kMin) return value < best_ * (1.0 - threshold_);
  return value > best_ * (threshold_ + 1.0);
}

double ReduceOnPlateau::observe(double value) {
  if (improves(value)) {
    best_ = value;
    bad_epochs_ = 0;
  } else {
    ++bad_epochs_;
  }
  if (bad_epochs_ > patience_) {
    const double reduced = std::max(lr_ * factor_, min_lr_);
    if (lr_ - reduced > kMinimumDecay) lr_ = reduced;
    bad_epochs_ = 0;
  }
  return lr_;
}

}  // namespace cellcam::train
