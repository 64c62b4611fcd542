// cam.h — Grad-CAM post-processing: normalise the map, bring it back onto the original image, colour it,
// blend it. Pure functions, so the CLI and the page draw the same pixels from the same map.
//
// Basic usage (what render_cam does, and what the CLI and the page's renderCam call):
//   Result<std::vector<float>> m = normalize_cam(cam, cam_w * cam_h);                    // (cam_h,cam_w) -> [0,1]
//   Result<CanvasPlacement> p = canvas_placement(image.width, image.height, spec);       // preprocess.h
//   Result<std::vector<float>> up = upsample_cam(m.value().data(), cam_w, cam_h, p.value(),
//                                                spec.width, spec.height, image.width, image.height);
//   Result<Image> out = overlay(image, up.value(), Colormap::kJet, 0.5f);                  // (H,W,3|4) uint8
//
// Mirrors pytorch-grad-cam: the map is scaled at its own resolution (scale_cam_image) and then resized
// bilinearly; overlay() is the separate drawing step (show_cam_on_image) and, like it, refuses a map that
// is not in [0,1] instead of guessing. Differences from grad-cam, on purpose: colours come from
// matplotlib's tables (not OpenCV's), and the blend is round((1-alpha)*image + alpha*colour) per channel
// (grad-cam divides the blend by its maximum, which brightens dark images).
//
// Bit-identical in the g++ and em++ builds: only IEEE + - * / (no libm transcendental), no FMA contraction,
// fixed summation order, float->int by floor(x + 0.5). Errors are Results (error.h); nothing throws,
// nothing aborts. Thread-safe: no state beyond the constant colour tables.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cellcam/error.h"
#include "cellcam/image.h"
#include "cellcam/preprocess.h"
#include "cellcam/spec.h"

namespace cellcam {

// ---- normalisation

// pytorch-grad-cam's scale_cam_image, in float:  m = cam - min(cam);  m = m / (1e-7 + max(m)), bit for bit
// as numpy 1.x computes it (the divisor is summed in double, then rounded to float).
// Values end in [0, 1] (the maximum maps to 1 - ~1e-7/range: exactly 1 once the range is large enough
// for 1e-7 to vanish in float); a constant map gives all zeros. n >= 1; any NaN or infinity is a
// kInvalidArgument error.
// cam: n floats (typically (h,w) row-major); returns n floats.
Result<std::vector<float>> normalize_cam(const float* cam, int n);

// ---- scale: what a colour means

// kRelative: normalize_cam, each map stretched to the full colour range (grad-cam's default: shows where,
//   never how much; a flat or a weak map looks as hot as a strong one).
// kAbsolute: m = max(cam, 0) / max(cam) * p, p the probability of the class the map explains: no minimum is
//   subtracted, so a flat map stays one flat colour, and a class the model gives 0.02 stays dark blue
//   whatever its map's shape; 1 means "the class is certain and this is where its evidence peaks".
enum class CamScale { kRelative, kAbsolute };

const char* cam_scale_name(CamScale s);                      // "relative", "absolute"
Result<CamScale> parse_cam_scale(const std::string& name);   // the names above, or kInvalidArgument

// The map in [0,1] on the chosen scale. cam: n floats; probability in [0,1] (used by kAbsolute only; NaN or
// outside [0,1] is a kInvalidArgument error, as are NaN/infinite map values). kAbsolute computes
// (c > 0 ? c : 0) / hi * p in float, hi the map's maximum; hi <= 0 (nothing positive) gives all zeros.
Result<std::vector<float>> scale_cam(const float* cam, int n, CamScale scale, float probability);

// ---- resampling onto the original image

// Resamples a map defined over the model's input canvas (canvas_w x canvas_h; cam pixel (i,j) covers
// canvas_w/cam_w x canvas_h/cam_h canvas pixels) onto the ORIGINAL image, out_w x out_h, given where that
// image lay on the canvas (canvas_placement(out_w, out_h, spec)).
// Each output pixel centre (x + 0.5, y + 0.5) goes through the placement to canvas coordinates, then to
// cam coordinates with torch's align_corners=False rule, u = canvas_x * cam_w / canvas_w - 0.5, and is
// sampled bilinearly with edge clamping: torch.nn.functional.interpolate(mode="bilinear",
// align_corners=False) and cv2.resize(INTER_LINEAR) give the same numbers when the image is the canvas.
// Pixels whose centre falls outside the canvas (the parts of the image crop mode cut off) get 0, never NaN;
// `covered`, when given, receives 1 for pixels inside the canvas and 0 for those (out_w*out_h bytes).
// cam: (cam_h,cam_w) row-major; returns (out_h,out_w) row-major. Coordinates in double, values in float.
Result<std::vector<float>> upsample_cam(const float* cam, int cam_w, int cam_h, const CanvasPlacement& placement,
                                        int canvas_w, int canvas_h, int out_w, int out_h,
                                        std::vector<std::uint8_t>* covered = nullptr);

// ---- colour

enum class Colormap { kViridis, kJet };

const char* colormap_name(Colormap c);                       // "viridis", "jet"
Result<Colormap> parse_colormap(const std::string& name);    // the names above, or kInvalidArgument

struct Rgb8 {
  std::uint8_t r = 0;
  std::uint8_t g = 0;
  std::uint8_t b = 0;
};

// 256-entry lookup (tables from matplotlib, see colormaps.cpp): index = floor(v*255 + 0.5) with v clamped
// to [0,1] first (NaN -> 0). viridis(0) = (68,1,84), viridis(1) = (253,231,37); jet(0) = (0,0,128),
// jet(1) = (128,0,0).
Rgb8 colormap_rgb(Colormap c, float v);
// The table itself: 256 RGB triples, (256,3).
const std::uint8_t* colormap_table(Colormap c);

// ---- drawing

// The coloured map alone: (height,width,3) 8-bit RGB. cam01 has width*height values in [0,1] (1e-6
// tolerance, then clamped); anything else, or a size mismatch, is a kInvalidArgument error.
Result<Image> heatmap_image(const std::vector<float>& cam01, int width, int height, Colormap c);

// show_cam_on_image: per colour channel out = floor((1-alpha)*pixel + alpha*colour + 0.5), in double,
// pixel in 0..255. image: any Image (gray is replicated, 16-bit samples are rounded to 8 bits first, as
// render_thumbnail does). Returns 8-bit RGB (3 channels), or RGBA (4) with the alpha channel copied when
// the image has one. cam01 as for heatmap_image (same width*height as the image); alpha in [0,1], the
// weight of the colour. Violations are kInvalidArgument errors, like grad-cam's ValueError.
Result<Image> overlay(const Image& image, const std::vector<float>& cam01, Colormap c, float alpha);

// The same blend on RGBA buffers already coloured (the page's opacity slider re-blends at any alpha without
// recolouring): per colour channel out = floor((1 - a) * pixel + a * colour + 0.5), in double, a = alpha;
// the alpha channel is copied from `rgba`. rgba, heatmap, out: pixels * 4 bytes (out may alias rgba).
void blend_rgba(const std::uint8_t* rgba, const std::uint8_t* heatmap, std::size_t pixels, float alpha,
                std::uint8_t* out);

// ---- the whole chain

struct CamRendering {
  std::vector<float> cam01;          // (H,W): normalised map on the original image, 0 outside the canvas
  std::vector<std::uint8_t> covered; // (H,W): 1 where the pixel lay on the canvas
  Image heatmap;                     // (H,W,3)
  Image overlay;                     // (H,W,3|4)
};

// How render_heatmap scales a map: relative (the default, normalize_cam), or absolute with the probability
// of the class the map explains (scale_cam).
struct CamScaling {
  CamScale scale = CamScale::kRelative;
  float probability = 1.0f;
};

// The map on the original image and its colours, without the blend (the page blends at any opacity
// itself, as overlay() does): scale_cam -> canvas_placement -> upsample_cam -> heatmap_image for an
// image of width x height preprocessed with `spec`. cam: (cam_h,cam_w). Fills cam01 and covered.
Result<CamRendering> render_heatmap(const float* cam, int cam_w, int cam_h, int width, int height,
                                    const PreprocessSpec& spec, Colormap c, CamScaling scaling = {});

// render_heatmap + overlay, for a map computed on
// `image` preprocessed with `spec` (cam over the spec's width x height canvas). cam: (cam_h,cam_w).
Result<CamRendering> render_cam(const Image& image, const float* cam, int cam_w, int cam_h,
                                const PreprocessSpec& spec, Colormap c, float alpha, CamScaling scaling = {});

}  // namespace cellcam
