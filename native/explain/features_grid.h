// features_grid.h — the pictures of `cellcam features`, as pure functions on plain floats (no LibTorch):
// a conv layer's filters as a grid of small RGB tiles, and a layer's activations as a grid of one tile
// per channel on one colour scale. Each grid is first computed as floats in [0,1] with a mask of the
// gaps, then drawn (draw_grid), so tests can check the numbers without decoding pictures.
//
// Layouts: tiles in row-major order, cols = ceil(sqrt(count)), each tile enlarged `scale` times by nearest
// neighbour, `gap` pixels between tiles and none around the grid.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cellcam/cam.h"
#include "cellcam/error.h"
#include "cellcam/image.h"

namespace cellcam::explain {

// A grid of tiles as floats: `channels` values per pixel (1: a colour-map index, 3: RGB), each in [0,1];
// inside[pixel] is 0 on the gaps between tiles.
struct FloatGrid {
  int width = 0;
  int height = 0;
  int channels = 1;
  std::vector<float> values;         // (height,width,channels)
  std::vector<std::uint8_t> inside;  // (height,width)
};

// The value range of a layer's activations and how many channels never fire.
struct LayerStats {
  float min = 0.0f;
  float max = 0.0f;
  int channels = 0;
  int dead = 0;  // channels whose map is all zero (a ReLU that never fired on this image)
};

// a: (C,h,w) row-major.
LayerStats layer_stats(const float* a, int channels, int height, int width);

// The shared colour scale of a layer: [0, max] when nothing is negative (after a ReLU), else [min, max].
// A layer with max == lo gets hi = lo + 1 so every value maps to the low end, never NaN.
struct ColourScale {
  float lo = 0.0f;
  float hi = 1.0f;
};
ColourScale layer_scale(const LayerStats& stats);

// Filters w: (out,in,kh,kw) row-major. Each filter is min-max scaled on its own (its weights over all its
// input channels: a filter's colours compare with each other, not with another filter's). in == 3: an RGB
// tile in the input's channel order; in == 1: gray; any other count: the mean over input channels, gray.
// scale >= 1, gap >= 0.
Result<FloatGrid> filter_grid(const float* w, int out, int in, int kh, int kw, int scale, int gap);

// Activations a: (C,h,w). The first min(C, max_channels) channels, each a tile, all on `range`.
// scale >= 1, gap >= 0, max_channels >= 1.
Result<FloatGrid> activation_grid(const float* a, int channels, int height, int width, ColourScale range, int max_channels,
                                  int scale, int gap);

// The integer enlargement that brings a side of `side` pixels to at least `target` (never below 1).
int enlargement(int side, int target);

// 8-bit RGB picture of a grid: 3-channel values as colours, 1-channel values through `colormap`
// (cellcam/cam.h); gaps white.
Image draw_grid(const FloatGrid& grid, Colormap colormap);

}  // namespace cellcam::explain
