// cam.cpp — Grad-CAM normalisation, resampling onto the original image, colouring and blending (cam.h).
//
// Constraint: the page (em++/wasm32) and the CLI (g++/x86-64) must produce the same bytes. So: IEEE
// + - * / only, in a fixed order (no std::pow/exp, no FMA: -ffp-contract=off), float->int through
// floor(x + 0.5), loops in one fixed order. The colour tables are data (colormaps.cpp).
#include "cellcam/cam.h"
#include "cellcam/limits.h"

#include <cmath>
#include <cstring>
#include <new>
#include <string>

namespace cellcam {
namespace detail {
extern const std::uint8_t kViridisTable[256 * 3];
extern const std::uint8_t kJetTable[256 * 3];
}  // namespace detail

namespace {

// Tolerance for cam values just outside [0,1] (bilinear rounding), as in cam.h.
constexpr float kRangeTolerance = 1e-6f;

bool pixel_count_ok(int w, int h) { return w >= 1 && h >= 1 && static_cast<long long>(w) * h <= kMaxDrawPixels; }

// An 8-bit image of the given layout, zeroed (make_image would apply the default decode limits).
Image blank_image8(int width, int height, int channels) {
  Image img;
  img.width = width;
  img.height = height;
  img.channels = channels;
  img.bits = 8;
  img.samples.assign(static_cast<std::size_t>(width) * height * channels, 0);
  return img;
}

std::string dims(int w, int h) { return std::to_string(w) + "x" + std::to_string(h); }

Error invalid(const std::string& message) { return make_error(ErrorCode::kInvalidArgument, message); }

// floor(v*255 + 0.5) with v clamped to [0,1]; NaN -> 0.
int lut_index(float v) {
  if (!(v > 0.0f)) return 0;
  if (v >= 1.0f) return 255;
  return static_cast<int>(std::floor(v * 255.0f + 0.5f));
}

// Every value finite and within [0,1] +- tolerance, else the error overlay/heatmap report.
bool check_cam01(const std::vector<float>& cam01, int width, int height, const char* what, Error* error) {
  if (!pixel_count_ok(width, height)) {
    *error = invalid(std::string(what) + ": size " + dims(width, height) + " is empty or too large");
    return false;
  }
  const std::size_t n = static_cast<std::size_t>(width) * height;
  if (cam01.size() != n) {
    *error = invalid(std::string(what) + ": the map has " + std::to_string(cam01.size()) + " values, the " +
                     dims(width, height) + " image needs " + std::to_string(n));
    return false;
  }
  for (std::size_t i = 0; i < n; ++i) {
    const float v = cam01[i];
    if (!(v >= -kRangeTolerance && v <= 1.0f + kRangeTolerance)) {  // also catches NaN
      *error = invalid(std::string(what) + ": map value " + std::to_string(v) + " at pixel (" +
                       std::to_string(i % width) + ", " + std::to_string(i / width) +
                       ") is outside [0, 1]; normalise the map first (normalize_cam)");
      return false;
    }
  }
  return true;
}

bool image_layout_ok(const Image& image) {
  return image.width >= 1 && image.height >= 1 && image.channels >= 1 && image.channels <= 4 &&
         (image.bits == 8 || image.bits == 16) &&
         image.samples.size() == static_cast<std::size_t>(image.height) * image.row_bytes();
}

// Sample i of the image as 0..255 (16-bit rounded as render_thumbnail does).
unsigned sample8(const Image& image, std::size_t i) {
  if (image.bits == 8) return image.samples[i];
  std::uint16_t s;
  std::memcpy(&s, image.samples.data() + 2 * i, 2);
  return (s * 255u + 32767u) / 65535u;
}

std::uint8_t blend(double alpha, unsigned pixel, unsigned colour) {
  const double x = (1.0 - alpha) * static_cast<double>(pixel) + alpha * static_cast<double>(colour);
  const double r = std::floor(x + 0.5);
  return static_cast<std::uint8_t>(r < 0.0 ? 0.0 : (r > 255.0 ? 255.0 : r));
}

// Source index pair and weight along one axis, torch's align_corners=False with edge clamping.
struct Tap {
  int i0 = 0;
  int i1 = 0;
  double w0 = 1.0;  // weight of i0
  double w1 = 0.0;  // weight of i1
  bool inside = false;
};

Tap axis_tap(double canvas_pos, int canvas_size, int cam_size) {
  Tap t;
  t.inside = canvas_pos >= 0.0 && canvas_pos < static_cast<double>(canvas_size);
  if (!t.inside) return t;
  double u = canvas_pos * (static_cast<double>(cam_size) / static_cast<double>(canvas_size)) - 0.5;
  if (u < 0.0) u = 0.0;
  int i0 = static_cast<int>(u);
  if (i0 > cam_size - 1) i0 = cam_size - 1;
  t.i0 = i0;
  t.i1 = i0 < cam_size - 1 ? i0 + 1 : i0;
  double w1 = u - static_cast<double>(i0);
  if (w1 > 1.0) w1 = 1.0;
  t.w1 = w1;
  t.w0 = 1.0 - w1;
  return t;
}

}  // namespace

// ---- normalisation

Result<std::vector<float>> normalize_cam(const float* cam, int n) {
  if (cam == nullptr || n < 1) return invalid("normalize_cam: the map is empty");
  if (static_cast<long long>(n) > kMaxDrawPixels)
    return invalid("normalize_cam: " + std::to_string(n) + " values are too many");
  try {
    for (int i = 0; i < n; ++i)
      if (!std::isfinite(cam[i]))
        return invalid("normalize_cam: value " + std::to_string(i) + " is " +
                       (std::isnan(cam[i]) ? "NaN" : "infinite") + " (the model's output is broken)");
    float lo = cam[0];
    for (int i = 1; i < n; ++i) lo = cam[i] < lo ? cam[i] : lo;
    std::vector<float> out(static_cast<std::size_t>(n));
    float hi = 0.0f;
    for (int i = 0; i < n; ++i) {
      out[i] = cam[i] - lo;
      hi = out[i] > hi ? out[i] : hi;
    }
    if (!std::isfinite(hi)) return invalid("normalize_cam: the map's range overflows float");
    // numpy 1.x evaluates grad-cam's `1e-7 + np.max(img)` in double and divides the float32 array by it
    // rounded to float; so do we (numpy 2 would add in float: at most one ulp apart).
    const float denom = static_cast<float>(1e-7 + static_cast<double>(hi));
    for (int i = 0; i < n; ++i) out[i] = out[i] / denom;
    return out;
  } catch (const std::bad_alloc&) {
    return make_error(ErrorCode::kOutOfMemory,
                      "out of memory while normalising a map of " + std::to_string(n) + " values");
  }
}

// ---- scale

const char* cam_scale_name(CamScale s) { return s == CamScale::kAbsolute ? "absolute" : "relative"; }

Result<CamScale> parse_cam_scale(const std::string& name) {
  if (name == "relative") return CamScale::kRelative;
  if (name == "absolute") return CamScale::kAbsolute;
  return invalid("heatmap scale must be relative or absolute, not '" + name + "'");
}

Result<std::vector<float>> scale_cam(const float* cam, int n, CamScale scale, float probability) {
  if (scale == CamScale::kRelative) return normalize_cam(cam, n);
  if (!(probability >= 0.0f && probability <= 1.0f))
    return invalid("scale_cam: the class probability " + std::to_string(probability) + " is not in [0, 1]");
  if (cam == nullptr || n < 1) return invalid("scale_cam: the map is empty");
  if (static_cast<long long>(n) > kMaxDrawPixels) return invalid("scale_cam: " + std::to_string(n) + " values are too many");
  try {
    float hi = 0.0f;
    for (int i = 0; i < n; ++i) {
      if (!std::isfinite(cam[i]))
        return invalid("scale_cam: value " + std::to_string(i) + " is " + (std::isnan(cam[i]) ? "NaN" : "infinite") +
                       " (the model's output is broken)");
      hi = cam[i] > hi ? cam[i] : hi;
    }
    std::vector<float> out(static_cast<std::size_t>(n), 0.0f);
    if (hi > 0.0f)
      for (int i = 0; i < n; ++i) {
        const float share = (cam[i] > 0.0f ? cam[i] : 0.0f) / hi;  // in [0,1]: the division rounds, never above
        out[i] = share * probability;
      }
    return out;
  } catch (const std::bad_alloc&) {
    return make_error(ErrorCode::kOutOfMemory, "out of memory while scaling a map of " + std::to_string(n) + " values");
  }
}

// ---- resampling

Result<std::vector<float>> upsample_cam(const float* cam, int cam_w, int cam_h, const CanvasPlacement& placement,
                                        int canvas_w, int canvas_h, int out_w, int out_h,
                                        std::vector<std::uint8_t>* covered) {
  if (cam == nullptr || !pixel_count_ok(cam_w, cam_h))
    return invalid("upsample_cam: map size " + dims(cam_w, cam_h) + " is empty or too large");
  if (canvas_w < 1 || canvas_h < 1) return invalid("upsample_cam: canvas " + dims(canvas_w, canvas_h) + " is empty");
  if (!pixel_count_ok(out_w, out_h))
    return invalid("upsample_cam: output size " + dims(out_w, out_h) + " is empty or too large");
  if (!std::isfinite(placement.x0) || !std::isfinite(placement.y0) || !(placement.scale_x > 0.0f) ||
      !(placement.scale_y > 0.0f) || !std::isfinite(placement.scale_x) || !std::isfinite(placement.scale_y))
    return invalid("upsample_cam: placement is not a finite positive scale and offset");
  try {
    std::vector<Tap> cols(static_cast<std::size_t>(out_w));
    for (int x = 0; x < out_w; ++x) {
      const double cx = static_cast<double>(placement.x0) + (x + 0.5) * static_cast<double>(placement.scale_x);
      cols[x] = axis_tap(cx, canvas_w, cam_w);
    }
    std::vector<float> out(static_cast<std::size_t>(out_w) * out_h, 0.0f);
    if (covered) covered->assign(out.size(), 0);
    for (int y = 0; y < out_h; ++y) {
      const double cy = static_cast<double>(placement.y0) + (y + 0.5) * static_cast<double>(placement.scale_y);
      const Tap row = axis_tap(cy, canvas_h, cam_h);
      if (!row.inside) continue;
      const float* r0 = cam + static_cast<std::size_t>(row.i0) * cam_w;
      const float* r1 = cam + static_cast<std::size_t>(row.i1) * cam_w;
      for (int x = 0; x < out_w; ++x) {
        const Tap& c = cols[x];
        if (!c.inside) continue;
        // torch's order: h0 * (w0 * v00 + w1 * v01) + h1 * (w0 * v10 + w1 * v11)
        const double top = c.w0 * static_cast<double>(r0[c.i0]) + c.w1 * static_cast<double>(r0[c.i1]);
        const double bottom = c.w0 * static_cast<double>(r1[c.i0]) + c.w1 * static_cast<double>(r1[c.i1]);
        const std::size_t o = static_cast<std::size_t>(y) * out_w + x;
        out[o] = static_cast<float>(row.w0 * top + row.w1 * bottom);
        if (covered) (*covered)[o] = 1;
      }
    }
    return out;
  } catch (const std::bad_alloc&) {
    return make_error(ErrorCode::kOutOfMemory, "out of memory while resampling a map to " + dims(out_w, out_h));
  }
}

// ---- colour

const char* colormap_name(Colormap c) {
  switch (c) {
    case Colormap::kViridis: return "viridis";
    case Colormap::kJet: return "jet";
  }
  return "viridis";
}

Result<Colormap> parse_colormap(const std::string& name) {
  if (name == "viridis") return Colormap::kViridis;
  if (name == "jet") return Colormap::kJet;
  return invalid("unknown colormap '" + name + "' (viridis and jet are available)");
}

const std::uint8_t* colormap_table(Colormap c) {
  return c == Colormap::kJet ? detail::kJetTable : detail::kViridisTable;
}

Rgb8 colormap_rgb(Colormap c, float v) {
  const std::uint8_t* e = colormap_table(c) + 3 * lut_index(v);
  return Rgb8{e[0], e[1], e[2]};
}

// ---- drawing

Result<Image> heatmap_image(const std::vector<float>& cam01, int width, int height, Colormap c) {
  Error error;
  if (!check_cam01(cam01, width, height, "heatmap", &error)) return error;
  try {
    Image img = blank_image8(width, height, 3);
    const std::uint8_t* table = colormap_table(c);
    for (std::size_t p = 0; p < cam01.size(); ++p) std::memcpy(&img.samples[3 * p], table + 3 * lut_index(cam01[p]), 3);
    return img;
  } catch (const std::bad_alloc&) {
    return make_error(ErrorCode::kOutOfMemory, "out of memory for a " + dims(width, height) + " heatmap");
  }
}

Result<Image> overlay(const Image& image, const std::vector<float>& cam01, Colormap c, float alpha) {
  if (!image_layout_ok(image)) return invalid("overlay: image buffer does not match its declared layout");
  if (!(alpha >= 0.0f && alpha <= 1.0f))
    return invalid("overlay: alpha " + std::to_string(alpha) + " is outside [0, 1]");
  Error error;
  if (!check_cam01(cam01, image.width, image.height, "overlay", &error)) return error;
  const int out_c = image.has_alpha() ? 4 : 3;
  Image out;
  try {
    out = blank_image8(image.width, image.height, out_c);
  } catch (const std::bad_alloc&) {
    return make_error(ErrorCode::kOutOfMemory, "out of memory for a " + dims(image.width, image.height) + " overlay");
  }
  const std::uint8_t* table = colormap_table(c);
  const double a = static_cast<double>(alpha);
  const std::size_t n = cam01.size();
  for (std::size_t p = 0; p < n; ++p) {
    const std::uint8_t* colour = table + 3 * lut_index(cam01[p]);
    const std::size_t in = p * image.channels;
    unsigned rgb[3];
    if (image.channels <= 2) {
      rgb[0] = rgb[1] = rgb[2] = sample8(image, in);
    } else {
      for (int k = 0; k < 3; ++k) rgb[k] = sample8(image, in + k);
    }
    std::uint8_t* px = &out.samples[p * out_c];
    for (int k = 0; k < 3; ++k) px[k] = blend(a, rgb[k], colour[k]);
    if (out_c == 4) px[3] = static_cast<std::uint8_t>(sample8(image, in + image.channels - 1));
  }
  return out;
}

void blend_rgba(const std::uint8_t* rgba, const std::uint8_t* heatmap, std::size_t pixels, float alpha,
                std::uint8_t* out) {
  const double a = static_cast<double>(alpha);
  for (std::size_t p = 0; p < pixels; ++p) {
    const std::size_t i = 4 * p;
    for (int k = 0; k < 3; ++k) out[i + k] = blend(a, rgba[i + k], heatmap[i + k]);
    out[i + 3] = rgba[i + 3];
  }
}

// ---- the whole chain

Result<CamRendering> render_heatmap(const float* cam, int cam_w, int cam_h, int width, int height,
                                    const PreprocessSpec& spec, Colormap c, CamScaling scaling) {
  if (cam == nullptr || !pixel_count_ok(cam_w, cam_h))
    return invalid("render_cam: map size " + dims(cam_w, cam_h) + " is empty or too large");
  if (!pixel_count_ok(width, height))
    return invalid("render_cam: image size " + dims(width, height) + " is empty or too large");
  Result<std::vector<float>> norm = scale_cam(cam, cam_w * cam_h, scaling.scale, scaling.probability);
  if (!norm) return norm.error();
  Result<CanvasPlacement> place = canvas_placement(width, height, spec);
  if (!place) return place.error();
  CamRendering r;
  Result<std::vector<float>> up = upsample_cam(norm.value().data(), cam_w, cam_h, place.value(), spec.width,
                                               spec.height, width, height, &r.covered);
  if (!up) return up.error();
  r.cam01 = up.take();
  Result<Image> heat = heatmap_image(r.cam01, width, height, c);
  if (!heat) return heat.error();
  r.heatmap = heat.take();
  return r;
}

Result<CamRendering> render_cam(const Image& image, const float* cam, int cam_w, int cam_h,
                                const PreprocessSpec& spec, Colormap c, float alpha, CamScaling scaling) {
  if (!image_layout_ok(image)) return invalid("render_cam: image buffer does not match its declared layout");
  Result<CamRendering> r = render_heatmap(cam, cam_w, cam_h, image.width, image.height, spec, c, scaling);
  if (!r) return r;
  Result<Image> blended = overlay(image, r.value().cam01, c, alpha);
  if (!blended) return blended.error();
  r.value().overlay = blended.take();
  return r;
}

}  // namespace cellcam
