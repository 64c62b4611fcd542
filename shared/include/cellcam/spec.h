// spec.h — the `preprocess` block of a model's JSON spec, parsed and validated.
//
// One spec drives the trainer, the CLI and the page, so the image a model sees is described by data,
// never by code. Example (every key optional; these are the defaults):
//   "preprocess": {
//     "width": 96, "height": 96,
//     "resize_filter": "triangle",      // box | triangle | cubic_bspline | catmull_rom | mitchell
//     "aspect": "stretch",              // stretch | pad (letterbox) | crop (centre crop)
//     "pad_value": 0.0,                 // [0,1], fills the pad border, before normalisation
//     "color": "rgb",                   // rgb | gray | hsv  (hsv: H/360, S, V, all in [0,1])
//     "mean": [0.0, 0.0, 0.0],          // one per output channel, or one for all
//     "std":  [1.0, 1.0, 1.0],
//     "blur": null,                     // or {"kernel": 5, "sigma": 0}: Gaussian, sigma 0 = OpenCV's rule
//     "stain": null                     // or {"target_mean": [..], "target_std": [..], "foreground_above": 0.1}
//   }
// `stain` is a per-image colour normalisation (Reinhard's, in RGB): each channel of the image's
// foreground (pixels whose brightest channel exceeds foreground_above, so a black background or
// letterbox is left out) is shifted and scaled to the target mean and standard deviation, then clipped
// to [0,1]. It removes a slide's overall stain cast, the main shift between patients and laboratories.
// `stain.method` picks how (stain.h has the details; absent = "rgb", so older model.json files keep
// their meaning):
//   "rgb"       the per-channel matching above; targets default to 0.5 / 0.1.
//   "reinhard"  Reinhard et al. 2001 in Ruderman's lαβ: "target_mean" and "target_std" (3 values each,
//               required) are the foreground's lαβ mean and standard deviation.
//   "macenko"   Macenko et al. 2009: "target_stains" [[H r,g,b], [E r,g,b]] (optical-density vectors,
//               non-negative, required) and "target_max_conc" [H, E] (positive, required).
// `foreground_above` applies to every method. A key that belongs to another method is refused.
// Unknown keys are refused (a typo must not silently change what a model sees).
#pragma once

#include <string>
#include <vector>

#include "cellcam/error.h"

namespace cellcam {

enum class ResizeFilter { kBox, kTriangle, kCubicBSpline, kCatmullRom, kMitchell };
enum class AspectMode { kStretch, kPad, kCrop };
enum class ColorMode { kRgb, kGray, kHsv };

struct BlurSpec {
  int kernel = 0;      // odd, >= 3; 0 = no blur
  double sigma = 0.0;  // 0 = as cv2.GaussianBlur: binomial taps for kernel <= 7, else 0.3*((k-1)*0.5-1)+0.8
};

enum class StainMethod { kRgb, kReinhard, kMacenko };

struct StainSpec {
  bool enabled = false;
  StainMethod method = StainMethod::kRgb;
  std::vector<float> target_mean{0.5f, 0.5f, 0.5f};  // one per canvas channel (3, or 1 for a gray source)
  std::vector<float> target_std{0.1f, 0.1f, 0.1f};
  float foreground_above = 0.1f;                     // [0,1): a pixel is foreground when max channel > this
  std::vector<float> target_stains;                  // macenko: 6 values, (2 stains, RGB), H first
  std::vector<float> target_max_conc;                // macenko: 2 values, H then E
};

struct PreprocessSpec {
  int width = 96;
  int height = 96;
  ResizeFilter filter = ResizeFilter::kTriangle;
  AspectMode aspect = AspectMode::kStretch;
  float pad_value = 0.0f;
  ColorMode color = ColorMode::kRgb;
  std::vector<float> mean{0.0f, 0.0f, 0.0f};
  std::vector<float> std{1.0f, 1.0f, 1.0f};
  BlurSpec blur;
  StainSpec stain;

  int channels() const { return color == ColorMode::kGray ? 1 : 3; }
};

// Accepts either a whole model spec (an object with a "preprocess" key) or the block itself.
Result<PreprocessSpec> parse_preprocess_spec(const std::string& json_text);

// Canonical JSON of the block (all keys present), for model.json and for round-trip tests.
std::string preprocess_spec_to_json(const PreprocessSpec& spec);

const char* resize_filter_name(ResizeFilter f);
const char* aspect_mode_name(AspectMode a);
const char* color_mode_name(ColorMode c);
const char* stain_method_name(StainMethod m);

}  // namespace cellcam
