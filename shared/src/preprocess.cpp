// preprocess.cpp — Image -> (C,H,W) float32 tensor; the order of operations is documented in preprocess.h.
//
// Determinism across g++/x86-64 and em++/wasm32 is a requirement, not a hope: this file and stb are
// compiled with -ffp-contract=off and without fast-math, use no libm transcendental functions
// (portable_exp below), and sum in a fixed order.
#include "cellcam/preprocess.h"

#include <cmath>
#include <cstring>
#include <new>
#include <string>

#include "cellcam/stain.h"
#include "stb_config.h"

namespace cellcam {
namespace {

stbir_filter to_stbir(ResizeFilter f) {
  switch (f) {
    case ResizeFilter::kBox: return STBIR_FILTER_BOX;
    case ResizeFilter::kTriangle: return STBIR_FILTER_TRIANGLE;
    case ResizeFilter::kCubicBSpline: return STBIR_FILTER_CUBICBSPLINE;
    case ResizeFilter::kCatmullRom: return STBIR_FILTER_CATMULLROM;
    case ResizeFilter::kMitchell: return STBIR_FILTER_MITCHELL;
  }
  return STBIR_FILTER_TRIANGLE;
}

// Samples to [0,1], alpha dropped: (H,W,C) with C = 1 (gray) or 3 (RGB).
std::vector<float> to_float(const Image& image) {
  const int out_c = image.color_channels();
  const std::size_t n = static_cast<std::size_t>(image.width) * image.height;
  std::vector<float> out(n * out_c);
  float lut[256];
  for (int i = 0; i < 256; ++i) lut[i] = static_cast<float>(i) / 255.0f;
  for (std::size_t p = 0; p < n; ++p) {
    for (int c = 0; c < out_c; ++c) {
      const std::size_t i = p * image.channels + c;
      if (image.bits == 8) {
        out[p * out_c + c] = lut[image.samples[i]];
      } else {
        std::uint16_t v;
        std::memcpy(&v, &image.samples[2 * i], 2);
        out[p * out_c + c] = static_cast<float>(v) / 65535.0f;
      }
    }
  }
  return out;
}

// Index into [0, n) with OpenCV's BORDER_REFLECT_101 (…2 1 | 0 1 2 … n-1 | n-2 …).
int reflect101(int i, int n) {
  if (n == 1) return 0;
  while (i < 0 || i >= n) {
    if (i < 0) i = -i;
    if (i >= n) i = 2 * n - 2 - i;
  }
  return i;
}

// Separable Gaussian blur in place on (H,W,C).
void blur(std::vector<float>& img, int width, int height, int channels, const std::vector<float>& taps) {
  const int r = static_cast<int>(taps.size() / 2);
  std::vector<float> tmp(img.size());
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < channels; ++c) {
        float sum = 0.0f;
        for (int k = 0; k < static_cast<int>(taps.size()); ++k)
          sum += taps[k] * img[(static_cast<std::size_t>(y) * width + reflect101(x + k - r, width)) * channels + c];
        tmp[(static_cast<std::size_t>(y) * width + x) * channels + c] = sum;
      }
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < channels; ++c) {
        float sum = 0.0f;
        for (int k = 0; k < static_cast<int>(taps.size()); ++k)
          sum += taps[k] * tmp[(static_cast<std::size_t>(reflect101(y + k - r, height)) * width + x) * channels + c];
        img[(static_cast<std::size_t>(y) * width + x) * channels + c] = sum;
      }
}

// OpenCV's float RGB->HSV with H scaled from degrees to [0,1].
void rgb_to_hsv(float r, float g, float b, float* h, float* s, float* v) {
  const float mx = r > g ? (r > b ? r : b) : (g > b ? g : b);
  const float mn = r < g ? (r < b ? r : b) : (g < b ? g : b);
  const float diff = mx - mn;
  *v = mx;
  *s = mx > 0.0f ? diff / mx : 0.0f;
  float hue = 0.0f;
  if (diff > 0.0f) {
    if (mx == r) hue = 60.0f * (g - b) / diff;
    else if (mx == g) hue = 120.0f + 60.0f * (b - r) / diff;
    else hue = 240.0f + 60.0f * (r - g) / diff;
    if (hue < 0.0f) hue += 360.0f;
  }
  *h = hue / 360.0f;
}

void hsv_to_rgb(float h, float s, float v, float* r, float* g, float* b) {
  const float hh = (h >= 1.0f ? 0.0f : h) * 6.0f;
  const int sector = static_cast<int>(std::floor(hh));
  const float f = hh - static_cast<float>(sector);
  const float p = v * (1.0f - s), q = v * (1.0f - s * f), t = v * (1.0f - s * (1.0f - f));
  switch (sector) {
    case 0: *r = v; *g = t; *b = p; break;
    case 1: *r = q; *g = v; *b = p; break;
    case 2: *r = p; *g = v; *b = t; break;
    case 3: *r = p; *g = q; *b = v; break;
    case 4: *r = t; *g = p; *b = v; break;
    default: *r = v; *g = p; *b = q; break;
  }
}

std::uint8_t to_byte(float x) {
  if (!(x > 0.0f)) return 0;
  if (x >= 1.0f) return 255;
  return static_cast<std::uint8_t>(x * 255.0f + 0.5f);
}

}  // namespace

double portable_exp(double x) {
  if (x > 709.0) return HUGE_VAL;
  if (x < -745.0) return 0.0;
  // x = k ln2 + r, |r| <= ln2/2; ln2 split in two so k*ln2_hi is exact.
  const double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
  const double k = std::round(x / 0.69314718055994530942);
  const double r = (x - k * ln2_hi) - k * ln2_lo;
  double sum = 1.0, term = 1.0;
  for (int n = 1; n <= 22; ++n) {
    term = term * r / n;
    sum = sum + term;
  }
  return std::ldexp(sum, static_cast<int>(k));
}

std::vector<float> gaussian_kernel(int kernel, double sigma) {
  if (kernel < 1) return {1.0f};
  // cv2.GaussianBlur(img, (k, k), 0) uses fixed binomial taps for k <= 7; match it, since the malaria
  // notebook's models were trained on exactly that.
  if (sigma <= 0.0 && kernel <= 7) {
    switch (kernel) {
      case 1: return {1.0f};
      case 3: return {0.25f, 0.5f, 0.25f};
      case 5: return {0.0625f, 0.25f, 0.375f, 0.25f, 0.0625f};
      case 7: return {0.03125f, 0.109375f, 0.21875f, 0.28125f, 0.21875f, 0.109375f, 0.03125f};
      default: break;
    }
  }
  if (sigma <= 0.0) sigma = 0.3 * ((kernel - 1) * 0.5 - 1.0) + 0.8;
  const int r = kernel / 2;
  std::vector<double> w(kernel);
  double sum = 0.0;
  for (int i = 0; i < kernel; ++i) {
    const double d = static_cast<double>(i - r);
    w[i] = portable_exp(-(d * d) / (2.0 * sigma * sigma));
    sum += w[i];
  }
  std::vector<float> taps(kernel);
  for (int i = 0; i < kernel; ++i) taps[i] = static_cast<float>(w[i] / sum);
  return taps;
}

namespace {

bool spec_consistent(const PreprocessSpec& spec) {
  return spec.width >= 1 && spec.height >= 1 && spec.mean.size() == static_cast<std::size_t>(spec.channels()) &&
         spec.std.size() == static_cast<std::size_t>(spec.channels());
}

Error inconsistent_spec() {
  return make_error(ErrorCode::kInvalidSpec, "preprocess: spec is inconsistent (validate it with parse_preprocess_spec)");
}

// The stb_image_resize call resize_to_canvas makes: the output rectangle on the canvas and the source
// region (s0,t0)-(s1,t1) in [0,1] texture coordinates. One function, so canvas_placement() and the resize
// cannot drift apart.
struct ResizeGeometry {
  int out_x = 0, out_y = 0, out_w = 0, out_h = 0;
  float s0 = 0.0f, t0 = 0.0f, s1 = 1.0f, t1 = 1.0f;
};

ResizeGeometry resize_geometry(int src_w, int src_h, const PreprocessSpec& spec) {
  const int W = spec.width, H = spec.height;
  ResizeGeometry g;
  g.out_w = W;
  g.out_h = H;
  const double sx = static_cast<double>(W) / src_w, sy = static_cast<double>(H) / src_h;
  if (spec.aspect == AspectMode::kPad) {
    const double scale = sx < sy ? sx : sy;
    g.out_w = static_cast<int>(std::round(src_w * scale));
    g.out_h = static_cast<int>(std::round(src_h * scale));
    g.out_w = g.out_w < 1 ? 1 : (g.out_w > W ? W : g.out_w);
    g.out_h = g.out_h < 1 ? 1 : (g.out_h > H ? H : g.out_h);
    g.out_x = (W - g.out_w) / 2;
    g.out_y = (H - g.out_h) / 2;
  } else if (spec.aspect == AspectMode::kCrop) {
    const double scale = sx > sy ? sx : sy;
    const double keep_u = W / (scale * src_w), keep_v = H / (scale * src_h);  // <= 1
    g.s0 = static_cast<float>((1.0 - keep_u) / 2.0);
    g.s1 = static_cast<float>(1.0 - (1.0 - keep_u) / 2.0);
    g.t0 = static_cast<float>((1.0 - keep_v) / 2.0);
    g.t1 = static_cast<float>(1.0 - (1.0 - keep_v) / 2.0);
  }
  return g;
}

}  // namespace

Result<CanvasPlacement> canvas_placement(int src_w, int src_h, const PreprocessSpec& spec) {
  if (src_w < 1 || src_h < 1 || spec.width < 1 || spec.height < 1)
    return make_error(ErrorCode::kInvalidArgument, "canvas placement: image " + std::to_string(src_w) + "x" +
                                                       std::to_string(src_h) + " or canvas " +
                                                       std::to_string(spec.width) + "x" + std::to_string(spec.height) +
                                                       " is empty");
  const ResizeGeometry g = resize_geometry(src_w, src_h, spec);
  // stbir__calculate_transform, operation for operation: in = (out + shift) / scale, so
  // out = in * scale - shift; the pad offset is where resize_to_canvas points stb's output.
  const float scale_x = (static_cast<float>(g.out_w) / static_cast<float>(src_w)) / (g.s1 - g.s0);
  const float scale_y = (static_cast<float>(g.out_h) / static_cast<float>(src_h)) / (g.t1 - g.t0);
  const float shift_x = g.s0 * static_cast<float>(g.out_w) / (g.s1 - g.s0);
  const float shift_y = g.t0 * static_cast<float>(g.out_h) / (g.t1 - g.t0);
  CanvasPlacement p;
  p.x0 = static_cast<float>(g.out_x) - shift_x;
  p.y0 = static_cast<float>(g.out_y) - shift_y;
  p.scale_x = scale_x;
  p.scale_y = scale_y;
  p.content_x = g.out_x;
  p.content_y = g.out_y;
  p.content_width = g.out_w;
  p.content_height = g.out_h;
  return p;
}

Result<Canvas> resize_to_canvas(const Image& image, const PreprocessSpec& spec) {
  if (image.width <= 0 || image.height <= 0 || image.channels < 1 || image.channels > 4 ||
      image.samples.size() != static_cast<std::size_t>(image.height) * image.row_bytes())
    return make_error(ErrorCode::kInvalidArgument, "preprocess: image buffer does not match its declared layout");
  if (!spec_consistent(spec)) return inconsistent_spec();
  try {
    Canvas canvas;
    canvas.channels = image.color_channels();
    canvas.width = spec.width;
    canvas.height = spec.height;
    const int in_c = canvas.channels, W = spec.width, H = spec.height;
    const std::vector<float> src = to_float(image);  // (h,w,in_c)
    canvas.data.assign(static_cast<std::size_t>(W) * H * in_c, spec.pad_value);
    const ResizeGeometry g = resize_geometry(image.width, image.height, spec);
    const int out_x = g.out_x, out_y = g.out_y, out_w = g.out_w, out_h = g.out_h;
    const float s0 = g.s0, t0 = g.t0, s1 = g.s1, t1 = g.t1;
    const int row_stride = W * in_c * static_cast<int>(sizeof(float));
    const stbir_filter filter = to_stbir(spec.filter);
    if (!stbir_resize_region(src.data(), image.width, image.height, 0,
                             canvas.data.data() + (static_cast<std::size_t>(out_y) * W + out_x) * in_c, out_w, out_h,
                             row_stride, STBIR_TYPE_FLOAT, in_c, STBIR_ALPHA_CHANNEL_NONE, 0, STBIR_EDGE_CLAMP,
                             STBIR_EDGE_CLAMP, filter, filter, STBIR_COLORSPACE_LINEAR, nullptr, s0, t0, s1, t1))
      return make_error(ErrorCode::kOutOfMemory, "out of memory while resizing");
    return canvas;
  } catch (const std::bad_alloc&) {
    return make_error(ErrorCode::kOutOfMemory, "out of memory while preprocessing a " + std::to_string(image.width) + "x" +
                                                   std::to_string(image.height) + " image");
  }
}

ForegroundStats foreground_stats(const Canvas& canvas, float foreground_above) {
  ForegroundStats st;
  const int in_c = canvas.channels;
  if (in_c != 1 && in_c != 3) return st;
  const std::size_t n = static_cast<std::size_t>(canvas.width) * canvas.height;
  if (canvas.data.size() != n * in_c) return st;
  double sum[3] = {0, 0, 0};
  for (std::size_t p = 0; p < n; ++p) {
    const float* px = &canvas.data[p * in_c];
    if (!is_stain_foreground(px, in_c, foreground_above)) continue;
    ++st.pixels;
    for (int c = 0; c < in_c; ++c) sum[c] += px[c];
  }
  if (st.pixels == 0) return st;
  const double count = static_cast<double>(st.pixels);
  for (int c = 0; c < in_c; ++c) st.mean[c] = sum[c] / count;
  double sq[3] = {0, 0, 0};  // second pass: no cancellation from sum(x^2) - n mean^2
  for (std::size_t p = 0; p < n; ++p) {
    const float* px = &canvas.data[p * in_c];
    if (!is_stain_foreground(px, in_c, foreground_above)) continue;
    for (int c = 0; c < in_c; ++c) {
      const double d = px[c] - st.mean[c];
      sq[c] += d * d;
    }
  }
  for (int c = 0; c < in_c; ++c) st.std[c] = std::sqrt(sq[c] / count);  // sqrt is exact IEEE in both builds
  return st;
}

void normalize_stain(Canvas& canvas, const StainSpec& stain) {
  if (stain.method == StainMethod::kReinhard) return normalize_stain_reinhard(canvas, stain);
  if (stain.method == StainMethod::kMacenko) return normalize_stain_macenko(canvas, stain);
  const ForegroundStats st = foreground_stats(canvas, stain.foreground_above);
  if (st.pixels < 16 || stain.target_mean.size() != 3 || stain.target_std.size() != 3) return;
  const int in_c = canvas.channels;
  // A gray source has one channel: its targets are the luma of the RGB targets.
  double target_mean[3], target_std[3];
  if (in_c == 1) {
    target_mean[0] = 0.299 * stain.target_mean[0] + 0.587 * stain.target_mean[1] + 0.114 * stain.target_mean[2];
    target_std[0] = 0.299 * stain.target_std[0] + 0.587 * stain.target_std[1] + 0.114 * stain.target_std[2];
  } else {
    for (int c = 0; c < 3; ++c) { target_mean[c] = stain.target_mean[c]; target_std[c] = stain.target_std[c]; }
  }
  float gain[3], offset[3];  // y = x * gain + offset
  for (int c = 0; c < in_c; ++c) {
    const double g = st.std[c] >= 1.0 / 255.0 ? target_std[c] / st.std[c] : 1.0;
    gain[c] = static_cast<float>(g);
    offset[c] = static_cast<float>(target_mean[c] - st.mean[c] * g);
  }
  const std::size_t n = static_cast<std::size_t>(canvas.width) * canvas.height;
  for (std::size_t p = 0; p < n; ++p) {
    float* px = &canvas.data[p * in_c];
    if (!is_stain_foreground(px, in_c, stain.foreground_above)) continue;
    for (int c = 0; c < in_c; ++c) {
      const float y = px[c] * gain[c] + offset[c];
      px[c] = y < 0.0f ? 0.0f : (y > 1.0f ? 1.0f : y);
    }
  }
}

Result<Tensor> canvas_to_tensor(Canvas canvas, const PreprocessSpec& spec) {
  if (!spec_consistent(spec)) return inconsistent_spec();
  const int in_c = canvas.channels, W = canvas.width, H = canvas.height;
  if ((in_c != 1 && in_c != 3) || W < 1 || H < 1 || canvas.data.size() != static_cast<std::size_t>(W) * H * in_c)
    return make_error(ErrorCode::kInvalidArgument, "preprocess: canvas does not match its declared layout");
  try {
    // ---- blur at model resolution
    if (spec.blur.kernel > 0) blur(canvas.data, W, H, in_c, gaussian_kernel(spec.blur.kernel, spec.blur.sigma));
    if (spec.stain.enabled) normalize_stain(canvas, spec.stain);

    // ---- colour mode and normalisation, to (C,H,W)
    Tensor t;
    t.channels = spec.channels();
    t.height = H;
    t.width = W;
    t.data.resize(static_cast<std::size_t>(t.channels) * H * W);
    const std::size_t plane = static_cast<std::size_t>(H) * W;
    for (std::size_t p = 0; p < plane; ++p) {
      const float* px = &canvas.data[p * in_c];
      const float r = px[0], g = in_c == 3 ? px[1] : px[0], b = in_c == 3 ? px[2] : px[0];
      float out[3];
      switch (spec.color) {
        case ColorMode::kRgb: out[0] = r; out[1] = g; out[2] = b; break;
        case ColorMode::kGray: out[0] = in_c == 3 ? 0.299f * r + 0.587f * g + 0.114f * b : r; break;
        case ColorMode::kHsv: rgb_to_hsv(r, g, b, &out[0], &out[1], &out[2]); break;
      }
      for (int c = 0; c < t.channels; ++c) t.data[c * plane + p] = (out[c] - spec.mean[c]) / spec.std[c];
    }
    return t;
  } catch (const std::bad_alloc&) {
    return make_error(ErrorCode::kOutOfMemory, "out of memory while preprocessing");
  }
}

Result<Tensor> preprocess(const Image& image, const PreprocessSpec& spec) {
  Result<Canvas> canvas = resize_to_canvas(image, spec);
  if (!canvas) return canvas.error();
  return canvas_to_tensor(canvas.take(), spec);
}

Rgba8 tensor_preview(const Tensor& t, const PreprocessSpec& spec) {
  Rgba8 out;
  out.width = t.width;
  out.height = t.height;
  out.pixels.assign(static_cast<std::size_t>(t.width) * t.height * 4, 255);
  const std::size_t plane = static_cast<std::size_t>(t.width) * t.height;
  for (std::size_t p = 0; p < plane; ++p) {
    float v[3] = {0, 0, 0};
    for (int c = 0; c < t.channels && c < 3; ++c) {
      const float mean = c < static_cast<int>(spec.mean.size()) ? spec.mean[c] : 0.0f;
      const float sd = c < static_cast<int>(spec.std.size()) ? spec.std[c] : 1.0f;
      v[c] = t.data[c * plane + p] * sd + mean;
    }
    float rgb[3];
    if (t.channels == 1) {
      rgb[0] = rgb[1] = rgb[2] = v[0];
    } else if (spec.color == ColorMode::kHsv) {
      const float h = v[0] < 0.0f ? 0.0f : (v[0] > 1.0f ? 1.0f : v[0]);
      const float s = v[1] < 0.0f ? 0.0f : (v[1] > 1.0f ? 1.0f : v[1]);
      hsv_to_rgb(h, s, v[2], &rgb[0], &rgb[1], &rgb[2]);
    } else {
      rgb[0] = v[0]; rgb[1] = v[1]; rgb[2] = v[2];
    }
    for (int c = 0; c < 3; ++c) out.pixels[p * 4 + c] = to_byte(rgb[c]);
  }
  return out;
}

}  // namespace cellcam
