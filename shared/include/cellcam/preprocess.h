// preprocess.h — decoded Image -> float32 CHW tensor, exactly as a PreprocessSpec says.
//
// Order: samples to [0,1] float (alpha dropped) -> resize (stb_image_resize, clamp edges; pad or crop
// for keep-aspect) -> optional Gaussian blur -> optional stain normalisation -> colour mode ->
// (x - mean) / std -> CHW.
// Bit-exact across builds: only IEEE +,-,*,/ in a fixed order (no libm transcendental calls, no FMA
// contraction, no fast-math), so g++ on x86-64 and em++ on wasm32 produce identical floats.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "cellcam/error.h"
#include "cellcam/image.h"
#include "cellcam/spec.h"

namespace cellcam {

struct Tensor {
  int channels = 0;
  int height = 0;
  int width = 0;
  std::vector<float> data;  // (C,H,W)
};

Result<Tensor> preprocess(const Image& image, const PreprocessSpec& spec);

// The same in two stages, so the trainer can augment between them (and cache the first):
//   preprocess(image, spec) == canvas_to_tensor(resize_to_canvas(image, spec), spec), to the bit.
struct Canvas {
  int width = 0;
  int height = 0;
  int channels = 0;          // 1 (gray source) or 3
  std::vector<float> data;   // (H,W,C), values in [0,1], at the model's input size
};
Result<Canvas> resize_to_canvas(const Image& image, const PreprocessSpec& spec);  // samples -> [0,1] -> resize
Result<Tensor> canvas_to_tensor(Canvas canvas, const PreprocessSpec& spec);       // blur -> stain -> colour -> normalise

// The colour statistics of a canvas's foreground (pixels whose brightest channel exceeds
// foreground_above): what `stain` normalisation matches to its targets, and what the trainer averages
// over training images to choose those targets. Sums in double, in pixel order (bit-exact across builds).
struct ForegroundStats {
  std::size_t pixels = 0;
  double mean[3] = {0, 0, 0};
  double std[3] = {0, 0, 0};  // population standard deviation
};
ForegroundStats foreground_stats(const Canvas& canvas, float foreground_above);

// Stain normalisation in place (see spec.h): foreground channels to the targets' mean and standard
// deviation, clipped to [0,1]; the background is untouched. A canvas with fewer than 16 foreground
// pixels is left as it is (nothing to measure a stain on); a flat channel (std < 1/255) is only shifted.
// That is method "rgb"; "reinhard" and "macenko" are dispatched to stain.h.
void normalize_stain(Canvas& canvas, const StainSpec& stain);

// Where a src_w x src_h image lies on the spec's width x height canvas, as resize_to_canvas puts it:
//   canvas_x = x0 + src_x * scale_x,   canvas_y = y0 + src_y * scale_y
// in continuous pixel coordinates (pixel i spans [i, i+1), its centre is i + 0.5), for both axes.
//   stretch: x0 = y0 = 0, scale = canvas / source per axis.
//   pad:     the image is resized to round(src * min scale) (at least 1, at most the canvas) and placed
//            at ((W - w') / 2, (H - h') / 2), integer division; scale_x = w' / src_w (so the two axes can
//            differ by rounding), x0 = that integer offset.
//   crop:    x0, y0 <= 0: the centred part of the image that fits; what maps outside [0, W) x [0, H) is
//            cut off.
// The floats are the very ones stb_image_resize computes its sample positions from (same operations,
// same order, in float), so the placement agrees with resize_to_canvas exactly, not approximately.
// content_* is the integer rectangle of the canvas the image covers (the rest is pad_value).
struct CanvasPlacement {
  float x0 = 0.0f;
  float y0 = 0.0f;
  float scale_x = 1.0f;
  float scale_y = 1.0f;
  int content_x = 0;
  int content_y = 0;
  int content_width = 0;
  int content_height = 0;
};
// src_w, src_h >= 1 and spec.width, spec.height >= 1, or a kInvalidArgument error.
Result<CanvasPlacement> canvas_placement(int src_w, int src_h, const PreprocessSpec& spec);

// The tensor as a person would see it: normalisation undone, HSV turned back to RGB, gray replicated,
// rounded to 8-bit RGBA. What the page and `cellcam preprocess` show as the "preprocessed" preview.
Rgba8 tensor_preview(const Tensor& tensor, const PreprocessSpec& spec);

// Gaussian taps used for `blur` (exposed for tests): odd length, sums to 1 within float rounding.
std::vector<float> gaussian_kernel(int kernel, double sigma);

// exp(x) from IEEE basic operations only, so both builds agree to the bit (libm's exp may not).
double portable_exp(double x);

}  // namespace cellcam
