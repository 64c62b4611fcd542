// stain.h — stain normalisation as histopathology tools do it: Reinhard's (colour statistics in lαβ) and
// Macenko's (two stain vectors in optical density), beside the per-channel RGB matching in preprocess.h.
//
// Basic usage: the `stain` block of the preprocessing spec picks the method (spec.h), and
// canvas_to_tensor calls normalize_stain, which dispatches here. The trainer measures the targets with
// reinhard_stats / estimate_macenko on its training images (native/training/stain_targets.h).
//
// Both methods work on the canvas (H,W,3), values in [0,1], at the model's input size, and touch only
// its foreground: pixels whose brightest channel exceeds `foreground_above` (so a black background or
// letterbox stays as it is). A canvas with one channel (a gray source) has no stain and is left alone.
// A degenerate canvas is left unchanged, never turned into NaN: fewer than kMinStainPixels pixels to
// measure on, a flat image (Reinhard: every lαβ channel's std under 1e-4), stain vectors that are
// (nearly) parallel or a stain with (nearly) no concentration (Macenko).
//
// Bit-identity between g++/glibc and em++/musl: only IEEE +,-,*,/ and sqrt, exact frexp/ldexp/round,
// and our own log (portable_log, here) and exp (portable_exp, preprocess.h); sums in double in pixel
// order; sorts on a total order with unique keys. libm's log/exp/pow/cbrt/atan2 are never called.
#pragma once

#include <cstddef>
#include <optional>

#include "cellcam/preprocess.h"
#include "cellcam/spec.h"

namespace cellcam {

// Fewer foreground (Reinhard) or tissue (Macenko) pixels than this: nothing to measure a stain on.
constexpr std::size_t kMinStainPixels = 16;
// Macenko's parameters, as in the paper and its common implementations: a pixel is tissue when its
// optical density is at least kMacenkoBeta in every channel; the stain directions are the kMacenkoAlpha-th
// and (100 - kMacenkoAlpha)-th percentiles of the angles; concentrations are scaled by their 99th percentile.
constexpr double kMacenkoBeta = 0.15;
constexpr int kMacenkoAlphaPercent = 1;
constexpr int kMacenkoMaxConcPercent = 99;

// The one definition of the stain's foreground, for every method: the brightest channel exceeds `above`.
inline bool is_stain_foreground(const float* px, int channels, float above) {
  float brightest = px[0];
  for (int c = 1; c < channels; ++c) brightest = px[c] > brightest ? px[c] : brightest;
  return brightest > above;
}

// Natural log from IEEE basic operations (frexp reduction to [sqrt(1/2), sqrt(2)), then the atanh
// series): within 2 ulp of libm, identical in both builds. x > 0 and finite (else -inf for 0, NaN below).
double portable_log(double x);

// ---- Reinhard et al. 2001: Ruderman's lαβ (not CIELAB; it needs log and exp, not cbrt):
// RGB -> LMS (the paper's matrix) -> log10 -> lαβ (the paper's orthogonal transform). LMS values are
// floored at 1/255 (one 8-bit step) before the log, so black never yields -inf; above that floor the two
// conversions are each other's inverse to ~1e-15.
void rgb_to_lalphabeta(const double rgb[3], double lab[3]);
void lalphabeta_to_rgb(const double lab[3], double rgb[3]);  // unclipped

// Mean and population standard deviation of the foreground in lαβ (sums in double, pixel order).
struct LabStats {
  std::size_t pixels = 0;
  double mean[3] = {0, 0, 0};
  double std[3] = {0, 0, 0};
};
LabStats reinhard_stats(const Canvas& canvas, float foreground_above);  // (H,W,3); pixels = 0 for other layouts

// Each lαβ channel of the foreground to the targets' mean and std (a channel with std < 1e-4 is only
// shifted), back to RGB, clipped to [0,1]. stain.target_mean / target_std are lαβ values here.
void normalize_stain_reinhard(Canvas& canvas, const StainSpec& stain);

// ---- Macenko et al. 2009. Optical density OD = -ln((255 v + 1) / 256) for a value v in [0,1] (the
// "(I + 1) / 256" form of 8-bit intensity I = 255 v: white is 0, black ln 256, never infinite).
double optical_density(float v);

// A symmetric 3x3 matrix's eigenvalues (descending) and unit eigenvectors (vectors[i] belongs to values[i]),
// by cyclic Jacobi rotations.
struct Eigen3 {
  double values[3];
  double vectors[3][3];
};
Eigen3 symmetric_eigen3(const double a[3][3]);

// One image's stains: unit OD vectors (H first: the one absorbing more red, the usual rule) and the 99th
// percentile of each stain's concentration over the foreground. nullopt for a degenerate canvas.
struct MacenkoStains {
  double stains[2][3];  // (2 stains, RGB)
  double max_conc[2];
  std::size_t tissue_pixels = 0;
};
std::optional<MacenkoStains> estimate_macenko(const Canvas& canvas, float foreground_above);  // (H,W,3)

// Concentrations by least squares on the image's own stains, each scaled so its 99th percentile equals
// stain.target_max_conc, then recomposed with stain.target_stains: v = (256 exp(-OD) - 1) / 255, clipped.
void normalize_stain_macenko(Canvas& canvas, const StainSpec& stain);

}  // namespace cellcam
