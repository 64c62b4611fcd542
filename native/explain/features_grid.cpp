// features_grid.cpp — see features_grid.h.
#include "features_grid.h"

#include <algorithm>
#include <cmath>

namespace cellcam::explain {
namespace {

struct Layout {
  int cols = 0, rows = 0, tile_w = 0, tile_h = 0;
};

Layout layout(int count, int tile_w, int tile_h) {
  Layout l;
  l.cols = std::max(1, static_cast<int>(std::ceil(std::sqrt(static_cast<double>(count)))));
  l.rows = (count + l.cols - 1) / l.cols;
  l.tile_w = tile_w;
  l.tile_h = tile_h;
  return l;
}

// An empty grid (everything a gap) for `count` tiles of (h*scale, w*scale) pixels.
FloatGrid empty_grid(int count, int h, int w, int scale, int gap, int channels, Layout& l) {
  l = layout(count, w * scale, h * scale);
  FloatGrid g;
  g.width = l.cols * l.tile_w + (l.cols - 1) * gap;
  g.height = l.rows * l.tile_h + (l.rows - 1) * gap;
  g.channels = channels;
  g.values.assign(static_cast<std::size_t>(g.width) * g.height * channels, 0.0f);
  g.inside.assign(static_cast<std::size_t>(g.width) * g.height, 0);
  return g;
}

// Tile t's pixel (x, y) (in the enlarged tile) -> its index in the grid.
std::size_t grid_pixel(const FloatGrid& g, const Layout& l, int t, int x, int y, int gap) {
  const int gx = (t % l.cols) * (l.tile_w + gap) + x;
  const int gy = (t / l.cols) * (l.tile_h + gap) + y;
  return static_cast<std::size_t>(gy) * g.width + gx;
}

Error bad(const std::string& what) { return make_error(ErrorCode::kInvalidArgument, what); }

}  // namespace

LayerStats layer_stats(const float* a, int channels, int height, int width) {
  LayerStats s;
  s.channels = channels;
  const std::size_t plane = static_cast<std::size_t>(height) * width;
  bool first = true;
  for (int c = 0; c < channels; ++c) {
    bool zero = true;
    for (std::size_t i = 0; i < plane; ++i) {
      const float v = a[c * plane + i];
      if (v != 0.0f) zero = false;
      if (first || v < s.min) s.min = v;
      if (first || v > s.max) s.max = v;
      first = false;
    }
    if (zero) ++s.dead;
  }
  return s;
}

ColourScale layer_scale(const LayerStats& stats) {
  ColourScale r;
  r.lo = stats.min < 0.0f ? stats.min : 0.0f;
  r.hi = stats.max > r.lo ? stats.max : r.lo + 1.0f;
  return r;
}

int enlargement(int side, int target) { return side >= target ? 1 : (target + side - 1) / std::max(1, side); }

// Filter f as a (kh,kw,channels) tile in [0,1]: RGB for 3 input channels, else the mean over them.
static std::vector<float> filter_tile(const float* wf, int in, int kh, int kw, int channels) {
  const int k2 = kh * kw;
  std::vector<float> t(static_cast<std::size_t>(k2) * channels);
  for (int k = 0; k < k2; ++k) {
    if (channels == 3) {
      for (int c = 0; c < 3; ++c) t[k * 3 + c] = wf[c * k2 + k];
    } else {
      float sum = 0.0f;
      for (int c = 0; c < in; ++c) sum += wf[c * k2 + k];
      t[k] = sum / static_cast<float>(in);
    }
  }
  const auto [lo_it, hi_it] = std::minmax_element(t.begin(), t.end());
  const float lo = *lo_it, range = *hi_it - *lo_it;
  for (float& v : t) v = range > 0.0f ? (v - lo) / range : 0.5f;  // a flat filter: mid gray
  return t;
}

Result<FloatGrid> filter_grid(const float* w, int out, int in, int kh, int kw, int scale, int gap) {
  if (out < 1 || in < 1 || kh < 1 || kw < 1 || scale < 1 || gap < 0) return bad("filter_grid: bad shape or scale");
  const int channels = in == 3 ? 3 : 1;
  Layout l;
  FloatGrid g = empty_grid(out, kh, kw, scale, gap, channels, l);
  for (int f = 0; f < out; ++f) {
    const std::vector<float> t = filter_tile(w + static_cast<std::size_t>(f) * in * kh * kw, in, kh, kw, channels);
    for (int y = 0; y < kh * scale; ++y)
      for (int x = 0; x < kw * scale; ++x) {
        const std::size_t p = grid_pixel(g, l, f, x, y, gap);
        const int k = (y / scale) * kw + x / scale;
        g.inside[p] = 1;
        for (int c = 0; c < channels; ++c) g.values[p * channels + c] = t[k * channels + c];
      }
  }
  return g;
}

Result<FloatGrid> activation_grid(const float* a, int channels, int height, int width, ColourScale range, int max_channels,
                                  int scale, int gap) {
  if (channels < 1 || height < 1 || width < 1 || scale < 1 || gap < 0 || max_channels < 1 || !(range.hi > range.lo))
    return bad("activation_grid: bad shape, scale or range");
  const int shown = std::min(channels, max_channels);
  Layout l;
  FloatGrid g = empty_grid(shown, height, width, scale, gap, 1, l);
  const std::size_t plane = static_cast<std::size_t>(height) * width;
  for (int c = 0; c < shown; ++c)
    for (int y = 0; y < height * scale; ++y)
      for (int x = 0; x < width * scale; ++x) {
        const std::size_t p = grid_pixel(g, l, c, x, y, gap);
        const float v = a[c * plane + static_cast<std::size_t>(y / scale) * width + x / scale];
        g.values[p] = std::clamp((v - range.lo) / (range.hi - range.lo), 0.0f, 1.0f);
        g.inside[p] = 1;
      }
  return g;
}

Image draw_grid(const FloatGrid& grid, Colormap colormap) {
  Image img;
  img.width = grid.width;
  img.height = grid.height;
  img.channels = 3;
  img.bits = 8;
  img.samples.assign(static_cast<std::size_t>(grid.width) * grid.height * 3, 255);
  for (std::size_t p = 0; p < grid.inside.size(); ++p) {
    if (!grid.inside[p]) continue;
    std::uint8_t* out = &img.samples[p * 3];
    if (grid.channels == 3) {
      for (int c = 0; c < 3; ++c) out[c] = static_cast<std::uint8_t>(std::floor(grid.values[p * 3 + c] * 255.0f + 0.5f));
    } else {
      const Rgb8 rgb = colormap_rgb(colormap, grid.values[p]);
      out[0] = rgb.r, out[1] = rgb.g, out[2] = rgb.b;
    }
  }
  return img;
}

}  // namespace cellcam::explain
