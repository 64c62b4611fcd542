// test_schedule.cpp — learning-rate schedules against values worked out by hand from each formula,
// the plateau rule over a sequence of losses, and the refusal of bad settings.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "schedule.h"

namespace cellcam::train {
namespace {

constexpr double kTol = 1e-12;

ScheduleSpec spec_of(ScheduleKind kind) {
  ScheduleSpec spec;
  spec.kind = kind;
  return spec;
}

TEST(Schedule, NamesRoundTrip) {
  for (const char* name : {"constant", "step", "inverse_time", "cosine", "one_cycle", "plateau"}) {
    Result<ScheduleSpec> spec = parse_schedule(name);
    ASSERT_TRUE(spec.ok()) << name;
    EXPECT_STREQ(schedule_name(spec.value().kind), name);
  }
  EXPECT_EQ(parse_schedule("cosine").value().kind, ScheduleKind::kCosineWarmup);
  EXPECT_EQ(parse_schedule("plateau").value().kind, ScheduleKind::kReduceOnPlateau);
}

TEST(Schedule, UnknownNameListsTheAllowedOnes) {
  Result<ScheduleSpec> spec = parse_schedule("Cosine");
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(spec.error().message,
            "unknown learning-rate schedule \"Cosine\" (expected one of: constant, step, inverse_time, cosine, "
            "one_cycle, plateau)");
  EXPECT_FALSE(parse_schedule("").ok());
}

TEST(Schedule, ConstantIsBaseLr) {
  ScheduleSpec spec = spec_of(ScheduleKind::kConstant);
  spec.base_lr = 0.02;
  EXPECT_EQ(lr_at(spec, 0), 0.02);
  EXPECT_EQ(lr_at(spec, 123456), 0.02);
}

TEST(Schedule, StepDecaysEveryStepSize) {
  ScheduleSpec spec = spec_of(ScheduleKind::kStep);
  spec.base_lr = 0.1;
  spec.step_size = 3;
  spec.gamma = 0.5;
  EXPECT_NEAR(lr_at(spec, 0), 0.1, kTol);    // floor(0/3) = 0 -> 0.1
  EXPECT_NEAR(lr_at(spec, 2), 0.1, kTol);    // floor(2/3) = 0 -> 0.1
  EXPECT_NEAR(lr_at(spec, 3), 0.05, kTol);   // floor(3/3) = 1 -> 0.1 * 0.5
  EXPECT_NEAR(lr_at(spec, 7), 0.025, kTol);  // floor(7/3) = 2 -> 0.1 * 0.25
  EXPECT_NEAR(lr_at(spec, 9), 0.0125, kTol); // floor(9/3) = 3 -> 0.1 * 0.125
}

TEST(Schedule, InverseTimeMatchesKeras) {
  // The Keras tutorial's setting: InverseTimeDecay(0.001, decay_steps=1000, decay_rate=1).
  ScheduleSpec spec = spec_of(ScheduleKind::kInverseTime);
  spec.base_lr = 0.001;
  spec.decay_rate = 1.0;
  spec.decay_steps = 1000;
  EXPECT_NEAR(lr_at(spec, 0), 0.001, kTol);
  EXPECT_NEAR(lr_at(spec, 500), 0.001 / 1.5, kTol);  // 1 + 1*500/1000 = 1.5 -> 6.667e-4
  EXPECT_NEAR(lr_at(spec, 1000), 0.0005, kTol);      // 1 + 1 = 2
  EXPECT_NEAR(lr_at(spec, 3000), 0.00025, kTol);     // 1 + 3 = 4
  spec.decay_rate = 0.5;
  EXPECT_NEAR(lr_at(spec, 2000), 0.0005, kTol);      // 1 + 0.5*2000/1000 = 2
}

TEST(Schedule, CosineWithWarmup) {
  ScheduleSpec spec = spec_of(ScheduleKind::kCosineWarmup);
  spec.base_lr = 1.0;
  spec.min_lr = 0.1;
  spec.warmup_steps = 4;
  spec.total_steps = 12;
  // Warm-up: base * (step + 1) / 4.
  EXPECT_NEAR(lr_at(spec, 0), 0.25, kTol);
  EXPECT_NEAR(lr_at(spec, 1), 0.5, kTol);
  EXPECT_NEAR(lr_at(spec, 3), 1.0, kTol);
  // Cosine: 0.1 + 0.5 * 0.9 * (1 + cos(pi * (step - 4) / 8)).
  EXPECT_NEAR(lr_at(spec, 4), 1.0, kTol);                 // cos 0 = 1 -> 0.1 + 0.9
  EXPECT_NEAR(lr_at(spec, 6), 0.8681980515339464, kTol);  // cos(pi/4) = 0.70711 -> 0.1 + 0.45 * 1.70711
  EXPECT_NEAR(lr_at(spec, 8), 0.55, kTol);                // cos(pi/2) = 0 -> 0.1 + 0.45
  EXPECT_NEAR(lr_at(spec, 12), 0.1, kTol);                // cos(pi) = -1 -> min_lr
  EXPECT_EQ(lr_at(spec, 13), 0.1);                        // held at min_lr after total_steps
  EXPECT_EQ(lr_at(spec, 1000), 0.1);
}

TEST(Schedule, CosineWithoutWarmupStartsAtBaseLr) {
  ScheduleSpec spec = spec_of(ScheduleKind::kCosineWarmup);
  spec.base_lr = 0.4;
  spec.total_steps = 10;
  EXPECT_NEAR(lr_at(spec, 0), 0.4, kTol);  // min_lr 0: 0.5 * 0.4 * (1 + cos 0)
  EXPECT_NEAR(lr_at(spec, 5), 0.2, kTol);  // 0.5 * 0.4 * (1 + cos(pi/2))
}

TEST(Schedule, OneCycleMatchesPyTorch) {
  // OneCycleLR(max_lr=1, total_steps=10, pct_start=0.4, div_factor=25, final_div_factor=1e4):
  // initial = 1/25 = 0.04, final = 0.04/1e4 = 4e-6; rise ends at 0.4*10 - 1 = 3, fall ends at 9.
  // anneal(start, end, pct) = end + (start - end)/2 * (cos(pi*pct) + 1).
  ScheduleSpec spec = spec_of(ScheduleKind::kOneCycle);
  spec.max_lr = 1.0;
  spec.total_steps = 10;
  spec.pct_start = 0.4;
  EXPECT_NEAR(lr_at(spec, 0), 0.04, kTol);       // pct 0: initial
  EXPECT_NEAR(lr_at(spec, 1), 0.28, kTol);       // pct 1/3: 1 - 0.96/2 * (0.5 + 1) = 1 - 0.72
  EXPECT_NEAR(lr_at(spec, 2), 0.76, kTol);       // pct 2/3: 1 - 0.48 * (-0.5 + 1) = 1 - 0.24
  EXPECT_NEAR(lr_at(spec, 3), 1.0, kTol);        // pct 1: max
  EXPECT_NEAR(lr_at(spec, 6), 0.500002, kTol);   // fall pct (6-3)/6 = 0.5: 4e-6 + (1 - 4e-6)/2
  EXPECT_NEAR(lr_at(spec, 9), 4e-6, kTol);       // pct 1: final
  EXPECT_NEAR(lr_at(spec, 10), 4e-6, kTol);      // past the cycle: held
}

TEST(Schedule, OneCycleFractionalPhaseBoundary) {
  // total 11, pct_start 0.3: rise ends at 0.3*11 - 1 = 2.3 (PyTorch keeps it fractional), fall at 10.
  ScheduleSpec spec = spec_of(ScheduleKind::kOneCycle);
  spec.max_lr = 1.0;
  spec.total_steps = 11;
  spec.pct_start = 0.3;
  // step 1: pct 1/2.3, cos(pi/2.3) = 0.203456 -> 1 - 0.48 * 1.203456 = 0.422341
  EXPECT_NEAR(lr_at(spec, 1), 0.4223411137347358, 1e-9);
  // step 3: fall pct (3 - 2.3)/(10 - 2.3) = 1/11, cos(pi/11) = 0.959493 -> 4e-6 + 0.499998 * 1.959493 = 0.979747
  EXPECT_NEAR(lr_at(spec, 3), 0.9797465678213015, 1e-9);
  EXPECT_NEAR(lr_at(spec, 10), 4e-6, kTol);
}

TEST(Schedule, NegativeStepCountsAsZero) {
  ScheduleSpec spec = spec_of(ScheduleKind::kStep);
  spec.base_lr = 0.1;
  EXPECT_EQ(lr_at(spec, -5), lr_at(spec, 0));
}

TEST(Schedule, InvalidSpecGivesNaN) {
  ScheduleSpec spec = spec_of(ScheduleKind::kStep);
  spec.step_size = 0;  // would be a division by zero
  EXPECT_TRUE(std::isnan(lr_at(spec, 5)));
  EXPECT_TRUE(std::isnan(lr_at(spec_of(ScheduleKind::kCosineWarmup), 0)));  // total_steps not set
}

TEST(Schedule, DefaultsValidateWhereNothingIsMissing) {
  for (ScheduleKind kind : {ScheduleKind::kConstant, ScheduleKind::kStep, ScheduleKind::kInverseTime,
                            ScheduleKind::kReduceOnPlateau})
    EXPECT_TRUE(validate(spec_of(kind)).ok()) << schedule_name(kind);
  // The length of the run is the trainer's to fill in.
  Result<bool> cosine = validate(spec_of(ScheduleKind::kCosineWarmup));
  ASSERT_FALSE(cosine.ok());
  EXPECT_EQ(cosine.error().message, "cosine schedule: total_steps must be set (at least 1), got 0");
  ScheduleSpec one_cycle = spec_of(ScheduleKind::kOneCycle);
  one_cycle.total_steps = 1000;
  EXPECT_TRUE(validate(one_cycle).ok());
}

std::string refusal(const ScheduleSpec& spec) {
  Result<bool> r = validate(spec);
  EXPECT_FALSE(r.ok());
  if (r.ok()) return "";
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  return r.error().message;
}

TEST(Schedule, BadSettingsAreRefused) {
  ScheduleSpec s = spec_of(ScheduleKind::kConstant);
  s.base_lr = 0.0;
  EXPECT_EQ(refusal(s), "constant schedule: base_lr must be positive, got 0");
  s.base_lr = std::nan("");
  EXPECT_EQ(refusal(s), "constant schedule: base_lr must be positive, got nan");

  s = spec_of(ScheduleKind::kStep);
  s.gamma = 10.0;
  EXPECT_EQ(refusal(s), "step schedule: gamma must be in (0, 1], got 10");

  s = spec_of(ScheduleKind::kInverseTime);
  s.decay_steps = 0;
  EXPECT_EQ(refusal(s), "inverse_time schedule: decay_steps must be at least 1, got 0");
  s.decay_steps = 10;
  s.decay_rate = -1.0;
  EXPECT_EQ(refusal(s), "inverse_time schedule: decay_rate must be >= 0, got -1");

  s = spec_of(ScheduleKind::kCosineWarmup);
  s.total_steps = 100;
  s.warmup_steps = 100;
  EXPECT_EQ(refusal(s), "cosine schedule: warmup_steps must be in [0, total_steps = 100), got 100");
  s.warmup_steps = 10;
  s.min_lr = 0.01;  // above base_lr 0.001
  EXPECT_EQ(refusal(s), "cosine schedule: min_lr must be in [0, base_lr = 0.001], got 0.01");

  s = spec_of(ScheduleKind::kOneCycle);
  s.total_steps = 3;  // 0.3 * 3 = 0.9: no step to rise over
  EXPECT_EQ(refusal(s), "one_cycle schedule: pct_start * total_steps must exceed 1 so the lr has steps to rise, "
                        "got 0.3 * 3 = 0.9");
  s.total_steps = 100;
  s.pct_start = 1.0;
  EXPECT_EQ(refusal(s), "one_cycle schedule: pct_start must be in (0, 1), got 1");

  s = spec_of(ScheduleKind::kReduceOnPlateau);
  s.factor = 1.0;
  EXPECT_EQ(refusal(s), "plateau schedule: factor must be in (0, 1), got 1");
  s.factor = 0.5;
  s.patience = -1;
  EXPECT_EQ(refusal(s), "plateau schedule: patience must be >= 0, got -1");
  s.patience = 0;
  s.threshold = 1.0;
  EXPECT_EQ(refusal(s), "plateau schedule: threshold must be in [0, 1), got 1");
}

// ---- ReduceOnPlateau

ScheduleSpec plateau(double factor, int patience, double threshold, double min_lr) {
  ScheduleSpec spec = spec_of(ScheduleKind::kReduceOnPlateau);
  spec.base_lr = 1.0;
  spec.factor = factor;
  spec.patience = patience;
  spec.threshold = threshold;
  spec.min_lr = min_lr;
  return spec;
}

TEST(ReduceOnPlateau, LossSequence) {
  // factor 0.5, patience 2, threshold 0.1 (relative: better means < best * 0.9), min_lr 0.2.
  Result<ReduceOnPlateau> made = ReduceOnPlateau::create(plateau(0.5, 2, 0.1, 0.2));
  ASSERT_TRUE(made.ok()) << made.error().message;
  ReduceOnPlateau& s = made.value();
  EXPECT_EQ(s.lr(), 1.0);
  EXPECT_EQ(s.observe(10.0), 1.0);  // first value: best 10
  EXPECT_EQ(s.observe(9.5), 1.0);   // 9.5 is not < 9: bad 1 (lower, but not by 10%)
  EXPECT_EQ(s.best(), 10.0);
  EXPECT_EQ(s.observe(9.2), 1.0);   // bad 2
  EXPECT_EQ(s.observe(9.1), 0.5);   // bad 3 > patience 2: 1 * 0.5, counter reset
  EXPECT_EQ(s.bad_epochs(), 0);
  EXPECT_EQ(s.observe(8.0), 0.5);   // 8 < 9: best 8
  EXPECT_EQ(s.observe(7.5), 0.5);   // 7.5 is not < 7.2: bad 1
  EXPECT_EQ(s.observe(7.5), 0.5);   // bad 2
  EXPECT_EQ(s.observe(7.5), 0.25);  // bad 3: 0.5 * 0.5
  EXPECT_EQ(s.observe(7.5), 0.25);
  EXPECT_EQ(s.observe(7.5), 0.25);
  EXPECT_EQ(s.observe(7.5), 0.2);   // max(0.25 * 0.5, min_lr 0.2)
  EXPECT_EQ(s.observe(7.5), 0.2);
  EXPECT_EQ(s.observe(7.5), 0.2);
  EXPECT_EQ(s.observe(7.5), 0.2);   // max(0.1, 0.2) = 0.2: already at the floor
  EXPECT_EQ(s.best(), 8.0);
}

TEST(ReduceOnPlateau, NaNIsABadEpoch) {
  Result<ReduceOnPlateau> made = ReduceOnPlateau::create(plateau(0.1, 0, 1e-4, 0.0));
  ASSERT_TRUE(made.ok());
  ReduceOnPlateau& s = made.value();
  EXPECT_EQ(s.observe(1.0), 1.0);
  EXPECT_NEAR(s.observe(std::nan("")), 0.1, kTol);  // bad 1 > patience 0
  EXPECT_EQ(s.best(), 1.0);
}

TEST(ReduceOnPlateau, MaxModeForAMetric) {
  // patience 1, factor 0.1, threshold 1e-4: better means > best * 1.0001.
  Result<ReduceOnPlateau> made = ReduceOnPlateau::create(plateau(0.1, 1, 1e-4, 0.0), PlateauMode::kMax);
  ASSERT_TRUE(made.ok());
  ReduceOnPlateau& s = made.value();
  EXPECT_EQ(s.observe(0.50), 1.0);               // best 0.5
  EXPECT_EQ(s.observe(0.60), 1.0);               // 0.6 > 0.50005: best 0.6
  EXPECT_EQ(s.observe(0.60003), 1.0);            // not > 0.60006: bad 1
  EXPECT_NEAR(s.observe(0.55), 0.1, kTol);       // bad 2 > 1: 1 * 0.1
  EXPECT_NEAR(s.observe(0.70), 0.1, kTol);       // better: best 0.7
  EXPECT_EQ(s.best(), 0.70);
}

TEST(ReduceOnPlateau, CreateRefusesOtherKindsAndBadSettings) {
  Result<ReduceOnPlateau> wrong = ReduceOnPlateau::create(spec_of(ScheduleKind::kStep));
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().message, "ReduceOnPlateau needs a plateau schedule, got step");
  EXPECT_FALSE(ReduceOnPlateau::create(plateau(2.0, 1, 1e-4, 0.0)).ok());
}

TEST(ReduceOnPlateau, LrAtGivesTheStartingRate) {
  EXPECT_EQ(lr_at(plateau(0.5, 2, 0.1, 0.0), 50), 1.0);
}

}  // namespace
}  // namespace cellcam::train
