// augment.h — training-time augmentation of a preprocessing Canvas: the trainer runs
//   decode -> resize_to_canvas() (cached) -> augment::apply() -> canvas_to_tensor()
// so every transform works at the model's input size on (H,W,C) floats in [0,1], C = 1 or 3.
//
// Order inside apply(): flips -> 90-degree rotation -> affine warp (rotation, zoom, shift and shear
// composed about the image centre; bilinear, reflected borders) -> H&E stain jitter -> colour jitter
// (torchvision ColorJitter, its four parts in a random order) -> Gaussian blur -> clamp to [0,1] ->
// random erasing (one box filled with a random colour, Zhong et al. 2017, as timm's RandomErasing).
// All the geometry is one map, so a sample is resampled at most once (flips and quarter turns alone
// are exact copies). Colour needs three channels: a 1-channel canvas gets brightness and contrast
// only. Geometry and blur apply to any canvas. Input values outside [0,1] are clamped first (NaN -> 0).
//
// Deterministic to the bit: apply(canvas, spec, seed) depends on nothing else (no globals, no thread
// state). The random numbers come from std::mt19937_64, whose output the standard fixes, through our
// own uniform draw; the arithmetic uses IEEE +,-,*,/ and sqrt only (our own log2/exp2/sin/cos, no libm
// transcendental calls), compiled without FMA contraction or fast-math as all of cellcam is. So a
// seed gives the same sample on any thread, and on any machine or glibc running the same build.
// Pure C++17, no LibTorch; nothing here throws or aborts.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "cellcam/error.h"
#include "cellcam/preprocess.h"

namespace cellcam::augment {

// One transform: how often and how strongly. p = 0 (the default) turns it off.
struct Transform {
  double p = 0.0;         // probability that a sample gets it, [0, 1]
  double strength = 0.0;  // its range, in the unit its field in AugmentSpec names; flips and rot90 have none
};

// Every transform apply() knows, each drawn independently per sample. Strength ranges are what
// validate() accepts; parse_augment() gives a bare name the default in parentheses.
struct AugmentSpec {
  // ---- geometry
  Transform hflip;
  Transform vflip;
  Transform rot90;       // k counter-clockwise quarter turns, k uniform in {1,2,3}; skipped unless width == height
  Transform rotate;      // degrees, angle ~ U(-s, s), positive = counter-clockwise on screen; [0, 180] (30)
  Transform zoom;        // scale ~ U(1 - s, 1 + s), > 1 enlarges the content; [0, 0.9] (0.1)
  Transform shift;       // fraction of width and of height, each ~ U(-s, s); [0, 1] (0.05)
  Transform shear;       // degrees, x' = x + tan(angle) * y about the centre, angle ~ U(-s, s); [0, 45] (5)
  // ---- colour: torchvision ColorJitter ranges
  Transform brightness;  // factor ~ U(max(0, 1 - s), 1 + s): v * f; [0, 10] (0.2)
  Transform contrast;    // factor likewise: f * v + (1 - f) * mean grey level of the image; [0, 10] (0.2)
  Transform saturation;  // factor likewise: f * v + (1 - f) * grey level of the pixel; [0, 10] (0.2)
  Transform hue;         // fraction of a turn, shift ~ U(-s, s) added to HSV hue; [0, 0.5] (0.04)
  // ---- other
  Transform blur;        // largest sigma in pixels: sigma ~ U(0.1, s), taps 2*ceil(3 sigma)+1; [0.1, 10] (1.0)
  Transform hed;         // H&E stain jitter (Tellez et al. 2018), per stain c * (1 + a) + b with a, b ~ U(-s, s),
                         // concentrations as rgb_to_hed() below; [0, 1] (0.03)
  Transform erase;       // random erasing: largest share of the canvas one box covers; the share ~ U(0.02, s),
                         // height/width ~ U(1, 3) or its inverse (even odds), filled with a colour ~ U(0,1)
                         // per channel; see erase_box(); [0.02, 1] (0.33)
};

// A comma-separated list as the CLI takes it, applied left to right:
//   "hflip,vflip,rot90,rotate=30,zoom=0.1,shift=0.05,shear=5,brightness=0.2,contrast=0.2,saturation=0.2,
//    hue=0.04,blur=1.0,hed=0.03,erase=0.33"
// A bare name turns a transform on with probability 0.5 (and, where it has one, its default strength);
// `name=value` sets the strength, a suffix `@p` the probability (`rotate=30@0.8`, `hflip@0.2`). A
// later item for the same transform replaces the earlier one. Presets set the transforms they name and
// leave the others: `cells` (hflip, vflip, rot90, rotate=180, zoom=0.1, brightness=0.1, contrast=0.1 —
// a cell crop is valid in any orientation), `histology` (hflip, vflip, rot90, hed=0.03, brightness=0.1,
// contrast=0.1, saturation=0.1, hue=0.04, blur=1.0@0.2); `none` turns everything off.
// Unknown names, malformed numbers and values out of range are Errors whose message names the item.
Result<AugmentSpec> parse_augment(const std::string& text);

// The canonical list for `spec`, in AugmentSpec's field order, `@p` only where p != 0.5, shortest
// round-trip numbers; "none" when nothing is on. parse_augment(describe(s)) gives back exactly the
// transforms of s that are on (p > 0), and nothing else.
std::string describe(const AugmentSpec& spec);

// true, or an Error naming the first transform whose probability or strength is out of range or not finite.
Result<bool> validate(const AugmentSpec& spec);

// Everything apply() draws for one sample. A factor of 1, a shift of 0 etc. is a no-op, so a
// default-constructed AugmentParams leaves a canvas as it is (but for the clamp to [0,1]).
struct AugmentParams {
  bool hflip = false;
  bool vflip = false;
  int rot90 = 0;  // counter-clockwise quarter turns, 0..3 (not applied to a non-square canvas)
  // The affine warp runs when `warp` is set, even if its parameters make it the identity.
  bool warp = false;
  double angle_deg = 0.0;  // counter-clockwise on screen
  double scale = 1.0;
  double shift_x = 0.0;  // fraction of the width, + = right
  double shift_y = 0.0;  // fraction of the height, + = down
  double shear_deg = 0.0;
  bool hed = false;
  std::array<double, 3> hed_alpha{};  // per stain (H, E, DAB): concentration * (1 + alpha) + beta
  std::array<double, 3> hed_beta{};
  std::array<int, 4> color_order{0, 1, 2, 3};  // 0 brightness, 1 contrast, 2 saturation, 3 hue
  double brightness = 1.0;
  double contrast = 1.0;
  double saturation = 1.0;
  double hue = 0.0;         // fraction of a turn
  double blur_sigma = 0.0;  // 0 = no blur
  bool erase = false;
  double erase_area = 0.0;    // share of the canvas before rounding, [0, 1]
  double erase_aspect = 1.0;  // box height / width
  double erase_x = 0.0;       // where the box lies in the room left for it, [0, 1): 0 = left edge
  double erase_y = 0.0;       // likewise, 0 = top
  std::array<float, 3> erase_fill{};  // per channel (a 1-channel canvas takes the first)
};

// The box random erasing fills on a width x height canvas, in pixels: height floor(H * min(1, sqrt(area *
// aspect))) and width floor(W * min(1, sqrt(area / aspect))), each at least 1, so it never covers more
// than erase_area of the canvas (unless one pixel already does). Empty (w = h = 0) when params.erase is off.
struct EraseBox {
  int x0 = 0, y0 = 0, width = 0, height = 0;
};
EraseBox erase_box(const AugmentParams& params, int width, int height);

// The draws for one sample. Every random number is drawn whether or not its transform is on, in a fixed
// order, so turning one transform on or off never changes what another draws for the same seed.
// A spec that fails validate() draws nothing: the result is the identity.
AugmentParams draw(const AugmentSpec& spec, std::uint64_t seed);

// Applies `params` to `canvas` in place (H,W,C). A canvas whose data does not match its shape or whose
// channel count is not 1 or 3 is left as it is; parameters outside their spec ranges are clamped into them.
void apply(Canvas& canvas, const AugmentParams& params);

// apply(canvas, draw(spec, seed)). The seed is mixed (splitmix64) before it seeds the generator, so
// consecutive seeds give unrelated samples.
void apply(Canvas& canvas, const AugmentSpec& spec, std::uint64_t seed);

// ---- colour deconvolution, exposed for tests
// Stain concentrations (Haematoxylin, Eosin, DAB) of one RGB pixel in [0,1]: optical density
// -ln(max(c, 1e-6)) times the inverse of skimage's rgb_from_hed (rows normalised to unit length).
// Concentrations are in natural-log optical density units (skimage's rgb2hed divides by -ln(1e-6) more).
std::array<double, 3> rgb_to_hed(const std::array<float, 3>& rgb);
// The inverse: exp(-(concentrations x rgb_from_hed)), clamped to [0,1].
std::array<float, 3> hed_to_rgb(const std::array<double, 3>& hed);

}  // namespace cellcam::augment
