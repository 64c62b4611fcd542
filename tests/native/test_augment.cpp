// test_augment.cpp — training-time augmentation: exact pixel mappings of the flips and quarter turns,
// invariants and directions of the warp (shape, range, constant canvases, identity, composition with the
// flips), colour formulas on known values, the H&E round trip, blur against preprocess's, determinism,
// the CLI syntax with its error messages, and the time per sample.
#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <ctime>
#include <iostream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "augment.h"

namespace cellcam::augment {
namespace {

// (H,W,C) with values spread over [0,1], including the ends.
Canvas random_canvas(int width, int height, int channels, std::uint32_t seed = 7) {
  Canvas c;
  c.width = width;
  c.height = height;
  c.channels = channels;
  c.data.resize(static_cast<std::size_t>(width) * height * channels);
  std::mt19937 gen(seed);
  for (float& v : c.data) v = static_cast<float>(gen() % 1001) / 1000.0f;
  return c;
}

Canvas constant_canvas(int width, int height, int channels, float value) {
  Canvas c;
  c.width = width;
  c.height = height;
  c.channels = channels;
  c.data.assign(static_cast<std::size_t>(width) * height * channels, value);
  return c;
}

float at(const Canvas& c, int x, int y, int ch) {
  return c.data[(static_cast<std::size_t>(y) * c.width + x) * c.channels + ch];
}

bool same_bits(const Canvas& a, const Canvas& b) {
  return a.width == b.width && a.height == b.height && a.channels == b.channels && a.data.size() == b.data.size() &&
         std::memcmp(a.data.data(), b.data.data(), a.data.size() * sizeof(float)) == 0;
}

// Every transform on, always, at the top of its range.
AugmentSpec everything(double p = 1.0) {
  AugmentSpec s;
  s.hflip = {p, 0.0};
  s.vflip = {p, 0.0};
  s.rot90 = {p, 0.0};
  s.rotate = {p, 180.0};
  s.zoom = {p, 0.9};
  s.shift = {p, 1.0};
  s.shear = {p, 45.0};
  s.brightness = {p, 10.0};
  s.contrast = {p, 10.0};
  s.saturation = {p, 10.0};
  s.hue = {p, 0.5};
  s.blur = {p, 3.0};
  s.hed = {p, 1.0};
  return s;
}

// What the CLI example turns on, always: the realistic "everything" for timing.
AugmentSpec everything_typical() {
  Result<AugmentSpec> s = parse_augment(
      "hflip@1,vflip@1,rot90@1,rotate=30@1,zoom=0.1@1,shift=0.05@1,shear=5@1,brightness=0.2@1,contrast=0.2@1,"
      "saturation=0.2@1,hue=0.04@1,blur=1.0@1,hed=0.03@1");
  EXPECT_TRUE(s.ok());
  return s.value();
}

// ---------------------------------------------------------------- identity and exact geometry

TEST(Augment, EverythingOffIsTheIdentity) {
  const Canvas original = random_canvas(13, 9, 3);
  for (std::uint64_t seed = 0; seed < 20; ++seed) {
    Canvas c = original;
    apply(c, AugmentSpec{}, seed);
    EXPECT_TRUE(same_bits(c, original)) << seed;
  }
  Canvas c = original;
  apply(c, AugmentParams{});
  EXPECT_TRUE(same_bits(c, original));
}

TEST(Augment, IdentityWarpIsAnExactCopy) {
  const Canvas original = random_canvas(12, 7, 3);
  Canvas c = original;
  AugmentParams p;
  p.warp = true;  // angle 0, scale 1, no shift or shear: every source coordinate is a pixel centre
  apply(c, p);
  EXPECT_TRUE(same_bits(c, original));
}

TEST(Augment, HorizontalFlipMapsXToWidthMinusOneMinusX) {
  const Canvas original = random_canvas(7, 5, 3);
  Canvas c = original;
  AugmentParams p;
  p.hflip = true;
  apply(c, p);
  for (int y = 0; y < 5; ++y)
    for (int x = 0; x < 7; ++x)
      for (int ch = 0; ch < 3; ++ch) ASSERT_EQ(at(c, x, y, ch), at(original, 6 - x, y, ch)) << x << "," << y;
  apply(c, p);
  EXPECT_TRUE(same_bits(c, original));
}

TEST(Augment, VerticalFlipMapsYToHeightMinusOneMinusY) {
  const Canvas original = random_canvas(6, 5, 1);
  Canvas c = original;
  AugmentParams p;
  p.vflip = true;
  apply(c, p);
  for (int y = 0; y < 5; ++y)
    for (int x = 0; x < 6; ++x) ASSERT_EQ(at(c, x, y, 0), at(original, x, 4 - y, 0));
  apply(c, p);
  EXPECT_TRUE(same_bits(c, original));
}

TEST(Augment, QuarterTurnIsCounterClockwiseAndFourAreTheIdentity) {
  const Canvas original = random_canvas(6, 6, 3);
  AugmentParams p;
  p.rot90 = 1;
  Canvas c = original;
  apply(c, p);
  // As numpy's rot90(m): out[y][x] = in[x][n-1-y]; the top-right corner moves to the top left.
  for (int y = 0; y < 6; ++y)
    for (int x = 0; x < 6; ++x)
      for (int ch = 0; ch < 3; ++ch) ASSERT_EQ(at(c, x, y, ch), at(original, 5 - y, x, ch));
  for (int i = 0; i < 3; ++i) apply(c, p);
  EXPECT_TRUE(same_bits(c, original));

  // k = 2 and k = 3 are two and three single turns.
  for (int k = 2; k <= 3; ++k) {
    Canvas once = original, steps = original;
    AugmentParams pk;
    pk.rot90 = k;
    apply(once, pk);
    for (int i = 0; i < k; ++i) apply(steps, p);
    EXPECT_TRUE(same_bits(once, steps)) << k;
  }
}

TEST(Augment, QuarterTurnIsSkippedOnNonSquareCanvases) {
  const Canvas original = random_canvas(8, 5, 3);
  Canvas c = original;
  AugmentParams p;
  p.rot90 = 1;
  apply(c, p);
  EXPECT_TRUE(same_bits(c, original));

  AugmentSpec spec;
  spec.rot90 = {1.0, 0.0};
  for (std::uint64_t seed = 0; seed < 10; ++seed) {
    Canvas d = original;
    apply(d, spec, seed);
    EXPECT_TRUE(same_bits(d, original));
  }
}

TEST(Augment, ShapesArePreserved) {
  const AugmentSpec spec = everything();
  for (int channels : {1, 3})
    for (auto [w, h] : {std::pair{96, 96}, std::pair{31, 17}, std::pair{1, 1}, std::pair{1, 9}}) {
      for (std::uint64_t seed = 0; seed < 5; ++seed) {
        Canvas c = random_canvas(w, h, channels);
        apply(c, spec, seed);
        EXPECT_EQ(c.width, w);
        EXPECT_EQ(c.height, h);
        EXPECT_EQ(c.channels, channels);
        EXPECT_EQ(c.data.size(), static_cast<std::size_t>(w) * h * channels);
      }
    }
}

TEST(Augment, ValuesStayInTheUnitIntervalAtFullStrength) {
  const AugmentSpec spec = everything();
  for (int channels : {1, 3})
    for (std::uint64_t seed = 0; seed < 50; ++seed) {
      Canvas c = random_canvas(24, 20, channels, static_cast<std::uint32_t>(seed));
      apply(c, spec, seed);
      for (float v : c.data) {
        ASSERT_GE(v, 0.0f) << seed;
        ASSERT_LE(v, 1.0f) << seed;
      }
    }
}

TEST(Augment, AConstantCanvasStaysConstantUnderAnyGeometry) {
  AugmentSpec spec;
  spec.hflip = spec.vflip = spec.rot90 = {1.0, 0.0};
  spec.rotate = {1.0, 180.0};
  spec.zoom = {1.0, 0.9};
  spec.shift = {1.0, 1.0};
  spec.shear = {1.0, 45.0};
  for (float value : {1.0f, 0.3f})
    for (std::uint64_t seed = 0; seed < 30; ++seed) {
      Canvas c = constant_canvas(20, 14, 3, value);
      apply(c, spec, seed);
      // Reflected borders: no black corners, not even one value off.
      for (float v : c.data) ASSERT_EQ(v, value) << seed;
    }
}

TEST(Augment, HalfTurnByTheWarpMatchesTwoQuarterTurns) {
  // A 180-degree rotation about the centre maps pixel centres onto pixel centres: the warp must agree
  // with the exact permutation up to the rounding of sin(pi) ~ 1e-16 in the source coordinates.
  const Canvas original = random_canvas(9, 9, 3);
  Canvas warped = original, turned = original;
  AugmentParams w;
  w.warp = true;
  w.angle_deg = 180.0;
  apply(warped, w);
  AugmentParams t;
  t.rot90 = 2;
  apply(turned, t);
  for (std::size_t i = 0; i < original.data.size(); ++i) ASSERT_NEAR(warped.data[i], turned.data[i], 1e-6f);
}

TEST(Augment, ShiftMovesContentAndReflectsAtTheBorder) {
  Canvas c = random_canvas(10, 4, 1);
  const Canvas original = c;
  AugmentParams p;
  p.warp = true;
  p.shift_x = 0.2;  // 2 pixels right
  apply(c, p);
  for (int y = 0; y < 4; ++y) {
    for (int x = 2; x < 10; ++x) ASSERT_EQ(at(c, x, y, 0), at(original, x - 2, y, 0));
    // BORDER_REFLECT: source -1 is pixel 0, source -2 is pixel 1.
    EXPECT_EQ(at(c, 1, y, 0), at(original, 0, y, 0));
    EXPECT_EQ(at(c, 0, y, 0), at(original, 1, y, 0));
  }
}

TEST(Augment, PositiveAnglesTurnTheSameWayAsQuarterTurns) {
  const Canvas original = random_canvas(11, 11, 3);
  Canvas warped = original, turned = original;
  AugmentParams w;
  w.warp = true;
  w.angle_deg = 90.0;
  apply(warped, w);
  AugmentParams t;
  t.rot90 = 1;
  apply(turned, t);
  for (std::size_t i = 0; i < original.data.size(); ++i) ASSERT_NEAR(warped.data[i], turned.data[i], 1e-6f);
}

// (H,W,1) whose value is the x coordinate / 16: bilinear sampling of it is exact up to rounding.
Canvas ramp_x(int width, int height) {
  Canvas c = constant_canvas(width, height, 1, 0.0f);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x) c.data[static_cast<std::size_t>(y) * width + x] = x / 16.0f;
  return c;
}

TEST(Augment, ZoomAboveOneEnlargesAboutTheCentre) {
  Canvas c = ramp_x(9, 9);
  AugmentParams p;
  p.warp = true;
  p.scale = 2.0;
  apply(c, p);
  for (int y = 0; y < 9; ++y)
    for (int x = 0; x < 9; ++x) ASSERT_NEAR(at(c, x, y, 0), (4.0f + (x - 4) / 2.0f) / 16.0f, 1e-6f) << x << "," << y;
}

TEST(Augment, ShearMovesRowsSideways) {
  Canvas c = ramp_x(15, 9);
  AugmentParams p;
  p.warp = true;
  p.shear_deg = 45.0;  // x' = x + (y - cy): output (x, y) comes from x - (y - 4)
  apply(c, p);
  for (int y = 0; y < 9; ++y)
    for (int x = 5; x < 10; ++x) ASSERT_NEAR(at(c, x, y, 0), (x - (y - 4)) / 16.0f, 1e-6f) << x << "," << y;
}

TEST(Augment, FlipsAndTurnsComposeWithTheWarpInOnePass) {
  const Canvas original = random_canvas(12, 12, 3);
  // Identity warp after flips and a turn: still an exact permutation.
  AugmentParams permute;
  permute.hflip = permute.vflip = true;
  permute.rot90 = 3;
  Canvas exact = original, with_identity_warp = original;
  apply(exact, permute);
  AugmentParams identity = permute;
  identity.warp = true;
  apply(with_identity_warp, identity);
  EXPECT_TRUE(same_bits(exact, with_identity_warp));
  // The sequential steps, each its own call, agree with the composed map to rounding.
  Canvas steps = original;
  for (const char* step : {"hflip", "vflip", "rot90"}) {
    AugmentParams one;
    if (std::string(step) == "hflip") one.hflip = true;
    if (std::string(step) == "vflip") one.vflip = true;
    if (std::string(step) == "rot90") one.rot90 = 3;
    apply(steps, one);
  }
  EXPECT_TRUE(same_bits(steps, exact));
  AugmentParams warp_only;
  warp_only.warp = true;
  warp_only.angle_deg = 17.0;
  warp_only.scale = 1.2;
  warp_only.shift_x = 0.1;
  warp_only.shear_deg = 8.0;
  apply(steps, warp_only);
  Canvas composed = original;
  AugmentParams all = warp_only;
  all.hflip = all.vflip = true;
  all.rot90 = 3;
  apply(composed, all);
  for (std::size_t i = 0; i < original.data.size(); ++i) ASSERT_NEAR(composed.data[i], steps.data[i], 1e-5f) << i;
}

TEST(Augment, InputOutsideTheUnitIntervalIsClampedFirst) {
  Canvas c = constant_canvas(4, 4, 3, 0.5f);
  c.data[0] = std::nanf("");
  c.data[1] = 1.5f;
  c.data[2] = -0.5f;
  AugmentParams p;
  p.hue = 0.1;
  p.hed = true;
  p.hflip = true;
  apply(c, p);
  for (float v : c.data) {
    ASSERT_GE(v, 0.0f);
    ASSERT_LE(v, 1.0f);
  }
}

// ---------------------------------------------------------------- determinism

TEST(Augment, SameSeedSameBitsDifferentSeedsDiffer) {
  const AugmentSpec spec = everything(0.7);
  const Canvas original = random_canvas(32, 32, 3);
  Canvas a = original, b = original, c = original;
  apply(a, spec, 12345);
  apply(b, spec, 12345);
  apply(c, spec, 12346);
  EXPECT_TRUE(same_bits(a, b));
  EXPECT_FALSE(same_bits(a, c));
}

TEST(Augment, ThreadsGiveTheSameBits) {
  const AugmentSpec spec = everything_typical();
  const Canvas original = random_canvas(48, 48, 3);
  std::vector<Canvas> serial(8, original), threaded(8, original);
  for (std::size_t i = 0; i < serial.size(); ++i) apply(serial[i], spec, 1000 + i);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < threaded.size(); ++i)
    threads.emplace_back([&, i] { apply(threaded[i], spec, 1000 + i); });
  for (std::thread& t : threads) t.join();
  for (std::size_t i = 0; i < serial.size(); ++i) EXPECT_TRUE(same_bits(serial[i], threaded[i])) << i;
}

TEST(Augment, DrawsDoNotDependOnWhichOtherTransformsAreOn) {
  AugmentSpec rotate_only;
  rotate_only.rotate = {1.0, 30.0};
  AugmentSpec with_more = rotate_only;
  with_more.hflip = {1.0, 0.0};
  with_more.hed = {1.0, 0.05};
  for (std::uint64_t seed = 0; seed < 10; ++seed)
    EXPECT_EQ(draw(rotate_only, seed).angle_deg, draw(with_more, seed).angle_deg);
}

TEST(Augment, DrawsFollowTheirProbabilitiesAndRanges) {
  AugmentSpec spec;
  spec.hflip = {0.5, 0.0};
  spec.rot90 = {1.0, 0.0};
  spec.rotate = {0.25, 30.0};
  spec.brightness = {1.0, 0.2};
  spec.blur = {1.0, 2.0};
  int flips = 0, rotations = 0, turns[4] = {0, 0, 0, 0};
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    const AugmentParams p = draw(spec, static_cast<std::uint64_t>(i));
    flips += p.hflip;
    rotations += p.warp;
    ASSERT_GE(p.rot90, 1);
    ASSERT_LE(p.rot90, 3);
    ++turns[p.rot90];
    ASSERT_LE(std::fabs(p.angle_deg), 30.0);
    ASSERT_GE(p.brightness, 0.8);
    ASSERT_LT(p.brightness, 1.2);
    ASSERT_GE(p.blur_sigma, 0.1);
    ASSERT_LT(p.blur_sigma, 2.0);
  }
  EXPECT_NEAR(flips / static_cast<double>(n), 0.5, 0.02);
  EXPECT_NEAR(rotations / static_cast<double>(n), 0.25, 0.02);
  for (int k = 1; k <= 3; ++k) EXPECT_NEAR(turns[k] / static_cast<double>(n), 1.0 / 3.0, 0.02) << k;
}

// ---------------------------------------------------------------- colour

TEST(Augment, BrightnessMultipliesExactly) {
  Canvas c = constant_canvas(4, 3, 3, 0.5f);
  c.data[0] = 0.25f;
  c.data[1] = 0.8f;
  AugmentParams p;
  p.brightness = 1.5;
  apply(c, p);
  EXPECT_EQ(c.data[0], 0.375f);
  EXPECT_EQ(c.data[1], 1.0f);  // 1.2, clamped
  EXPECT_EQ(c.data[2], 0.75f);

  // Through draw(): the output is the input times the drawn factor, rounded once.
  AugmentSpec spec;
  spec.brightness = {1.0, 0.2};
  const AugmentParams drawn = draw(spec, 99);
  Canvas d = constant_canvas(2, 2, 1, 0.5f);
  apply(d, spec, 99);
  EXPECT_EQ(d.data[0], 0.5f * static_cast<float>(drawn.brightness));
}

TEST(Augment, ContrastZeroGivesTheMeanGreyLevel) {
  Canvas c = constant_canvas(2, 1, 1, 0.0f);
  c.data = {0.25f, 0.75f};
  AugmentParams p;
  p.contrast = 0.0;
  apply(c, p);
  EXPECT_EQ(c.data[0], 0.5f);
  EXPECT_EQ(c.data[1], 0.5f);
}

TEST(Augment, SaturationZeroGivesGrey) {
  Canvas c = random_canvas(5, 5, 3);
  AugmentParams p;
  p.saturation = 0.0;
  apply(c, p);
  for (std::size_t i = 0; i < c.data.size(); i += 3) {
    EXPECT_EQ(c.data[i], c.data[i + 1]);
    EXPECT_EQ(c.data[i], c.data[i + 2]);
  }
}

TEST(Augment, HueTurnsRedIntoGreenAndBlue) {
  Canvas c = constant_canvas(1, 1, 3, 0.0f);
  c.data = {1.0f, 0.0f, 0.0f};
  AugmentParams p;
  p.hue = 1.0 / 3.0;
  apply(c, p);
  EXPECT_NEAR(c.data[0], 0.0f, 1e-6f);
  EXPECT_NEAR(c.data[1], 1.0f, 1e-6f);
  EXPECT_NEAR(c.data[2], 0.0f, 1e-6f);
  p.hue = -1.0 / 3.0;  // from green, back past red to blue
  apply(c, p);
  apply(c, p);
  EXPECT_NEAR(c.data[0], 0.0f, 1e-6f);
  EXPECT_NEAR(c.data[1], 0.0f, 1e-6f);
  EXPECT_NEAR(c.data[2], 1.0f, 1e-6f);
}

TEST(Augment, HueLeavesGreyPixelsAlone) {
  Canvas c = constant_canvas(3, 1, 3, 0.0f);
  c.data = {0.0f, 0.0f, 0.0f, 0.4f, 0.4f, 0.4f, 1.0f, 1.0f, 1.0f};
  const Canvas original = c;
  AugmentParams p;
  p.hue = 0.37;
  apply(c, p);
  EXPECT_TRUE(same_bits(c, original));
}

TEST(Augment, OneChannelCanvasGetsOnlyBrightnessAndContrastOfTheColourTransforms) {
  const Canvas original = random_canvas(6, 6, 1);
  AugmentParams p;
  p.saturation = 0.3;
  p.hue = 0.2;
  p.hed = true;
  p.hed_alpha = {0.5, 0.5, 0.5};
  p.hed_beta = {0.5, 0.5, 0.5};
  Canvas c = original;
  apply(c, p);
  EXPECT_TRUE(same_bits(c, original));
  p.brightness = 0.5;
  apply(c, p);
  EXPECT_EQ(c.data[0], original.data[0] * 0.5f);
}

// ---------------------------------------------------------------- H&E

TEST(Augment, HedRoundTripReturnsTheInput) {
  for (float r = 0.0f; r <= 1.0f; r += 0.125f)
    for (float g = 0.0f; g <= 1.0f; g += 0.125f)
      for (float b = 0.0f; b <= 1.0f; b += 0.125f) {
        const std::array<float, 3> back = hed_to_rgb(rgb_to_hed({r, g, b}));
        // 0 comes back as the 1e-6 floor of the optical density.
        EXPECT_NEAR(back[0], r, 1e-5f);
        EXPECT_NEAR(back[1], g, 1e-5f);
        EXPECT_NEAR(back[2], b, 1e-5f);
      }

  // The same through apply() with alpha = beta = 0.
  const Canvas original = random_canvas(16, 16, 3);
  Canvas c = original;
  AugmentParams p;
  p.hed = true;
  apply(c, p);
  for (std::size_t i = 0; i < c.data.size(); ++i) ASSERT_NEAR(c.data[i], original.data[i], 1e-5f);
}

TEST(Augment, HedSeparatesPureStains) {
  // A pixel stained by haematoxylin alone: OD = c * (unit H vector) -> concentrations (c, 0, 0).
  const double h[3] = {0.65, 0.70, 0.29};
  const double len = std::sqrt(h[0] * h[0] + h[1] * h[1] + h[2] * h[2]);
  std::array<float, 3> rgb{};
  for (int j = 0; j < 3; ++j) rgb[j] = static_cast<float>(std::exp(-0.8 * h[j] / len));
  const std::array<double, 3> hed = rgb_to_hed(rgb);
  EXPECT_NEAR(hed[0], 0.8, 1e-6);
  EXPECT_NEAR(hed[1], 0.0, 1e-6);
  EXPECT_NEAR(hed[2], 0.0, 1e-6);
  // White has no stain at all.
  const std::array<double, 3> white = rgb_to_hed({1.0f, 1.0f, 1.0f});
  for (double v : white) EXPECT_EQ(v, 0.0);
}

TEST(Augment, HedJitterScalesAndShiftsConcentrations) {
  Canvas c = constant_canvas(1, 1, 3, 0.0f);
  c.data = {0.6f, 0.4f, 0.7f};
  const std::array<double, 3> before = rgb_to_hed({0.6f, 0.4f, 0.7f});
  AugmentParams p;
  p.hed = true;
  p.hed_alpha = {0.1, -0.1, 0.0};
  p.hed_beta = {0.02, 0.0, -0.01};
  apply(c, p);
  const std::array<double, 3> after = rgb_to_hed({c.data[0], c.data[1], c.data[2]});
  EXPECT_NEAR(after[0], before[0] * 1.1 + 0.02, 1e-5);
  EXPECT_NEAR(after[1], before[1] * 0.9, 1e-5);
  EXPECT_NEAR(after[2], before[2] - 0.01, 1e-5);
}

// ---------------------------------------------------------------- blur

TEST(Augment, BlurMatchesPreprocessBlurBitForBit) {
  // Same taps (gaussian_kernel), same reflect-101 border, same summation order as canvas_to_tensor's blur.
  Canvas c = random_canvas(11, 8, 3);
  for (float& v : c.data) v = 0.1f + 0.8f * v;  // no clamping on either side
  PreprocessSpec spec;
  spec.width = 11;
  spec.height = 8;
  spec.blur.kernel = 7;  // 2 * ceil(3 * 1.0) + 1
  spec.blur.sigma = 1.0;
  Result<Tensor> t = canvas_to_tensor(c, spec);
  ASSERT_TRUE(t.ok());
  AugmentParams p;
  p.blur_sigma = 1.0;
  apply(c, p);
  const std::size_t plane = 11 * 8;
  for (std::size_t i = 0; i < plane; ++i)
    for (int ch = 0; ch < 3; ++ch) ASSERT_EQ(c.data[i * 3 + ch], t.value().data[ch * plane + i]) << i;
}

TEST(Augment, BlurKeepsAConstantCanvasAndSpreadsAnImpulse) {
  Canvas flat = constant_canvas(10, 10, 1, 0.5f);
  AugmentParams p;
  p.blur_sigma = 2.5;  // 17 taps: wider than the canvas, the border reflects more than once
  apply(flat, p);
  for (float v : flat.data) EXPECT_NEAR(v, 0.5f, 1e-6f);

  Canvas dot = constant_canvas(15, 15, 1, 0.0f);
  dot.data[7 * 15 + 7] = 1.0f;
  p.blur_sigma = 1.0;
  apply(dot, p);
  double sum = 0.0;
  for (float v : dot.data) sum += v;
  EXPECT_NEAR(sum, 1.0, 1e-5);
  EXPECT_EQ(at(dot, 6, 7, 0), at(dot, 8, 7, 0));
  EXPECT_EQ(at(dot, 7, 6, 0), at(dot, 7, 8, 0));
  EXPECT_LT(at(dot, 7, 7, 0), 1.0f);
}

TEST(Augment, MalformedCanvasIsLeftAlone) {
  Canvas c = random_canvas(4, 4, 3);
  c.data.pop_back();
  const Canvas original = c;
  apply(c, everything(), 1);
  EXPECT_TRUE(same_bits(c, original));
  Canvas four = random_canvas(4, 4, 4);
  const Canvas four_original = four;
  apply(four, everything(), 1);
  EXPECT_TRUE(same_bits(four, four_original));
}

// ---------------------------------------------------------------- random erasing

// How many pixels of `after` differ from `before` in any channel, and whether they all carry `fill`.
int changed_pixels(const Canvas& before, const Canvas& after, bool* all_fill, const std::array<float, 3>& fill) {
  int changed = 0;
  *all_fill = true;
  for (std::size_t i = 0; i < before.data.size() / before.channels; ++i) {
    bool differs = false;
    for (int c = 0; c < before.channels; ++c) differs |= before.data[i * before.channels + c] != after.data[i * before.channels + c];
    if (!differs) continue;
    ++changed;
    for (int c = 0; c < before.channels; ++c) *all_fill &= after.data[i * before.channels + c] == fill[c];
  }
  return changed;
}

TEST(AugmentErase, ProbabilityZeroNeverErasesAndOneAlwaysDoes) {
  AugmentSpec off = parse_augment("erase=0.5@0").value();
  AugmentSpec on = parse_augment("erase=0.5@1").value();
  for (std::uint64_t seed = 0; seed < 200; ++seed) {
    EXPECT_FALSE(draw(off, seed).erase);
    const AugmentParams p = draw(on, seed);
    ASSERT_TRUE(p.erase);
    const EraseBox box = erase_box(p, 64, 64);
    EXPECT_GT(box.width * box.height, 0);
  }
  Canvas c = random_canvas(16, 16, 3);
  const Canvas original = c;
  apply(c, off, 5);
  EXPECT_TRUE(same_bits(c, original));
}

TEST(AugmentErase, BoxStaysWithinTheAreaBoundsAndTheCanvas) {
  const double s = 0.25;
  const AugmentSpec spec = parse_augment("erase=0.25@1").value();
  double smallest = 1.0, largest = 0.0;
  for (std::uint64_t seed = 0; seed < 2000; ++seed) {
    const AugmentParams p = draw(spec, seed);
    ASSERT_GE(p.erase_area, 0.02);
    ASSERT_LE(p.erase_area, s);
    ASSERT_GE(p.erase_aspect, 1.0 / 3.0);
    ASSERT_LE(p.erase_aspect, 3.0);
    const EraseBox box = erase_box(p, 64, 48);
    ASSERT_GE(box.x0, 0);
    ASSERT_GE(box.y0, 0);
    ASSERT_LE(box.x0 + box.width, 64);
    ASSERT_LE(box.y0 + box.height, 48);
    const double share = static_cast<double>(box.width) * box.height / (64.0 * 48.0);
    ASSERT_LE(share, p.erase_area) << seed;  // the floors only shrink the box
    smallest = std::min(smallest, share);
    largest = std::max(largest, share);
  }
  // The floors lose less than a row and a column: at 0.02 of 64x48 (~61 px, sides >= 4.5 px) at least ~0.01 is left.
  EXPECT_GE(smallest, 0.01);
  EXPECT_GE(largest, 0.2);  // the range is used, not only its low end
}

TEST(AugmentErase, FillsExactlyItsBoxWithItsColourAfterEverythingElse) {
  AugmentParams p;
  p.erase = true;
  p.erase_area = 0.25;
  p.erase_aspect = 1.0;
  p.erase_x = 0.5;
  p.erase_y = 0.0;
  p.erase_fill = {0.25f, 0.5f, 0.75f};
  const EraseBox box = erase_box(p, 20, 20);
  EXPECT_EQ(box.width, 10);
  EXPECT_EQ(box.height, 10);
  EXPECT_EQ(box.x0, 5);  // floor(0.5 * 11)
  EXPECT_EQ(box.y0, 0);
  Canvas c = random_canvas(20, 20, 3);
  const Canvas original = c;
  p.blur_sigma = 2.0;  // blur runs first: the box stays sharp
  apply(c, p);
  for (int y = 0; y < 20; ++y)
    for (int x = 0; x < 20; ++x) {
      const bool inside = x >= 5 && x < 15 && y < 10;
      const float* v = &c.data[(static_cast<std::size_t>(y) * 20 + x) * 3];
      if (inside) {
        EXPECT_EQ(v[0], 0.25f);
        EXPECT_EQ(v[2], 0.75f);
      } else {
        EXPECT_FALSE(v[0] == 0.25f && v[1] == 0.5f && v[2] == 0.75f);
      }
    }
  // Without the blur, nothing outside the box changes.
  Canvas d = random_canvas(20, 20, 1);
  const Canvas d0 = d;
  p.blur_sigma = 0.0;
  apply(d, p);
  bool all_fill = false;
  EXPECT_EQ(changed_pixels(d0, d, &all_fill, p.erase_fill), 100);
  EXPECT_TRUE(all_fill);
  (void)original;
}

TEST(AugmentErase, SameSeedSameBoxAndOtherDrawsUnchanged) {
  const AugmentSpec with = parse_augment("hflip,rotate=30,hue=0.1,erase=0.4@0.7").value();
  const AugmentSpec without = parse_augment("hflip,rotate=30,hue=0.1").value();
  for (std::uint64_t seed = 0; seed < 50; ++seed) {
    const AugmentParams a = draw(with, seed), b = draw(with, seed), c = draw(without, seed);
    EXPECT_EQ(a.erase, b.erase);
    EXPECT_EQ(a.erase_area, b.erase_area);
    EXPECT_EQ(a.erase_x, b.erase_x);
    EXPECT_EQ(a.angle_deg, c.angle_deg);  // erasing draws last: the others do not move
    EXPECT_EQ(a.hue, c.hue);
  }
  EXPECT_EQ(describe(with), "hflip,rotate=30,hue=0.1,erase=0.4@0.7");
  Result<AugmentSpec> bad = parse_augment("erase=0.01");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message, "augmentation \"erase=0.01\": erase must be in [0.02, 1]");
}

// ---------------------------------------------------------------- parse_augment, describe, validate

TEST(AugmentParse, FullListAndDefaults) {
  Result<AugmentSpec> s = parse_augment(
      "hflip,vflip,rot90,rotate=30,zoom=0.1,shift=0.05,shear=5,brightness=0.2,contrast=0.2,saturation=0.2,"
      "hue=0.04,blur=1.0,hed=0.03");
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s.value().hflip.p, 0.5);
  EXPECT_EQ(s.value().rotate.p, 0.5);
  EXPECT_EQ(s.value().rotate.strength, 30.0);
  EXPECT_EQ(s.value().hed.strength, 0.03);
  EXPECT_EQ(describe(s.value()),
            "hflip,vflip,rot90,rotate=30,zoom=0.1,shift=0.05,shear=5,brightness=0.2,contrast=0.2,saturation=0.2,"
            "hue=0.04,blur=1,hed=0.03");

  Result<AugmentSpec> bare = parse_augment("rotate, zoom ,hed");  // spaces around items are fine
  ASSERT_TRUE(bare.ok());
  EXPECT_EQ(bare.value().rotate.strength, 30.0);
  EXPECT_EQ(bare.value().zoom.strength, 0.1);
  EXPECT_EQ(bare.value().hed.p, 0.5);
}

TEST(AugmentParse, ProbabilitySuffix) {
  Result<AugmentSpec> s = parse_augment("rotate=30@0.8,hflip@0.2,zoom@1,blur=2@0");
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s.value().rotate.p, 0.8);
  EXPECT_EQ(s.value().rotate.strength, 30.0);
  EXPECT_EQ(s.value().hflip.p, 0.2);
  EXPECT_EQ(s.value().zoom.p, 1.0);
  EXPECT_EQ(s.value().zoom.strength, 0.1);
  EXPECT_EQ(s.value().blur.p, 0.0);
  EXPECT_EQ(describe(s.value()), "hflip@0.2,rotate=30@0.8,zoom=0.1@1");
}

TEST(AugmentParse, Presets) {
  Result<AugmentSpec> cells = parse_augment("cells");
  ASSERT_TRUE(cells.ok());
  EXPECT_EQ(describe(cells.value()), "hflip,vflip,rot90,rotate=180,zoom=0.1,brightness=0.1,contrast=0.1");
  Result<AugmentSpec> histology = parse_augment("histology");
  ASSERT_TRUE(histology.ok());
  EXPECT_EQ(describe(histology.value()),
            "hflip,vflip,rot90,brightness=0.1,contrast=0.1,saturation=0.1,hue=0.04,blur=1@0.2,hed=0.03");
  Result<AugmentSpec> none = parse_augment("none");
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(describe(none.value()), "none");
  EXPECT_EQ(describe(AugmentSpec{}), "none");

  // Left to right: a preset sets its own transforms, later items override, none clears.
  EXPECT_EQ(describe(parse_augment("hue=0.1,cells,rotate=90@0.3").value()),
            "hflip,vflip,rot90,rotate=90@0.3,zoom=0.1,brightness=0.1,contrast=0.1,hue=0.1");
  EXPECT_EQ(describe(parse_augment("cells,none,vflip").value()), "vflip");
}

TEST(AugmentParse, DescribeRoundTrips) {
  for (const char* text : {"cells", "histology", "rotate=12.345@0.123,hed=0.07,shear=45@1", "none"}) {
    Result<AugmentSpec> a = parse_augment(text);
    ASSERT_TRUE(a.ok()) << text;
    Result<AugmentSpec> b = parse_augment(describe(a.value()));
    ASSERT_TRUE(b.ok()) << describe(a.value());
    EXPECT_EQ(describe(b.value()), describe(a.value()));
    EXPECT_EQ(b.value().rotate.strength, a.value().rotate.strength);
    EXPECT_EQ(b.value().rotate.p, a.value().rotate.p);
  }
}

TEST(AugmentParse, Errors) {
  const auto message = [](const std::string& text) {
    Result<AugmentSpec> s = parse_augment(text);
    EXPECT_FALSE(s.ok()) << text;
    if (s.ok()) return std::string();
    EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument);
    return s.error().message;
  };
  EXPECT_EQ(message("hflip,twirl=3"),
            "unknown augmentation \"twirl\" (expected one of: none, cells, histology, hflip, vflip, rot90, rotate, "
            "zoom, shift, shear, brightness, contrast, saturation, hue, blur, hed, erase)");
  EXPECT_EQ(message("rotate=abc"), "augmentation \"rotate=abc\": \"abc\" is not a number");
  EXPECT_EQ(message("rotate=30deg"), "augmentation \"rotate=30deg\": \"30deg\" is not a number");
  EXPECT_EQ(message("rotate="), "augmentation \"rotate=\": \"\" is not a number");
  EXPECT_EQ(message("zoom=1.5"), "augmentation \"zoom=1.5\": zoom must be in [0, 0.9]");
  EXPECT_EQ(message("hue=0.6"), "augmentation \"hue=0.6\": hue must be in [0, 0.5]");
  EXPECT_EQ(message("blur=0"), "augmentation \"blur=0\": blur must be in [0.1, 10]");
  EXPECT_EQ(message("rotate=nan"), "augmentation \"rotate=nan\": rotate must be in [0, 180]");
  EXPECT_EQ(message("rotate=30@2"), "augmentation \"rotate=30@2\": the probability must be in [0, 1]");
  EXPECT_EQ(message("hflip@x"), "augmentation \"hflip@x\": \"x\" is not a number");
  EXPECT_EQ(message("hflip=1"), "augmentation \"hflip=1\": hflip takes no value (set its probability with hflip@p)");
  EXPECT_EQ(message("cells@0.5"), "augmentation \"cells@0.5\": a preset takes no value or probability");
  EXPECT_EQ(message("hflip,,vflip"), "empty item in augmentation list \"hflip,,vflip\"");
  EXPECT_EQ(message("hflip,"), "empty item in augmentation list \"hflip,\"");
  EXPECT_EQ(message(""), "empty augmentation list (use \"none\" for no augmentation)");
  EXPECT_EQ(message("Hflip").substr(0, 31), "unknown augmentation \"Hflip\" (e");  // names are case-sensitive
}

TEST(AugmentParse, ValidateNamesTheBadField) {
  AugmentSpec s;
  EXPECT_TRUE(validate(s).ok());
  s.shear = {0.5, 60.0};
  ASSERT_FALSE(validate(s).ok());
  EXPECT_EQ(validate(s).error().message, "augment: shear strength 60 is outside [0, 45]");
  s.shear = {0.0, 60.0};  // off: its strength does not matter
  EXPECT_TRUE(validate(s).ok());
  s.vflip = {-0.1, 0.0};
  EXPECT_EQ(validate(s).error().message, "augment: probability of vflip is -0.1, outside [0, 1]");
  // An invalid spec draws nothing.
  Canvas c = random_canvas(8, 8, 3);
  const Canvas original = c;
  s.vflip = {1.0, 0.0};
  s.shear = {1.0, 60.0};
  apply(c, s, 3);
  EXPECT_TRUE(same_bits(c, original));
}

// ---------------------------------------------------------------- speed

// Reports, does not assert: the machine running the tests may be busy. Wall clock and process CPU
// time per canvas (CPU time is the one that means something on a loaded machine).
TEST(AugmentSpeed, NinetySixSquareWithEverythingOn) {
  const Canvas original = random_canvas(96, 96, 3);
  for (const auto& [label, spec] : {std::pair{"typical (CLI example values)", everything_typical()},
                                    std::pair{"maximum strengths (blur sigma up to 3)", everything()}}) {
    const int n = 300;
    Canvas c = original;
    apply(c, spec, 0);  // warm-up
    const auto start = std::chrono::steady_clock::now();
    const std::clock_t cpu_start = std::clock();
    for (int i = 0; i < n; ++i) {
      c = original;
      apply(c, spec, static_cast<std::uint64_t>(i));
    }
    const double cpu_us = 1e6 * static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC / n;
    const double wall_us =
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count() / n;
    std::cout << "[ timing   ] 96x96x3, every transform on, " << label << ": " << wall_us << " us wall, " << cpu_us
              << " us CPU per canvas\n";
    RecordProperty(label, std::to_string(cpu_us));
  }
}

}  // namespace
}  // namespace cellcam::augment
