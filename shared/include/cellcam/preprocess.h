// preprocess.h — decoded Image -> float32 CHW tensor, exactly as a PreprocessSpec says.
//
// Order: samples to [0,1] float (alpha dropped) -> resize (stb_image_resize, clamp edges; pad or crop
// for keep-aspect) -> optional Gaussian blur -> colour mode -> (x - mean) / std -> CHW.
// Bit-exact across builds: only IEEE +,-,*,/ in a fixed order (no libm transcendental calls, no FMA
// contraction, no fast-math), so g++ on x86-64 and em++ on wasm32 produce identical floats.
#pragma once

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
Result<Tensor> canvas_to_tensor(Canvas canvas, const PreprocessSpec& spec);       // blur -> colour -> normalise

// The tensor as a person would see it: normalisation undone, HSV turned back to RGB, gray replicated,
// rounded to 8-bit RGBA. What the page and `cellcam preprocess` show as the "preprocessed" preview.
Rgba8 tensor_preview(const Tensor& tensor, const PreprocessSpec& spec);

// Gaussian taps used for `blur` (exposed for tests): odd length, sums to 1 within float rounding.
std::vector<float> gaussian_kernel(int kernel, double sigma);

// exp(x) from IEEE basic operations only, so both builds agree to the bit (libm's exp may not).
double portable_exp(double x);

}  // namespace cellcam
