// tiling.h — cover a large image (e.g. a 2048x1536 microscopy photo) with fixed-size tiles, decide when
// to, and make one answer and one heatmap of the tiles' (the page and `cellcam predict`/`gradcam` alike).
//
// Tiles start every `stride` pixels; the last row and column are shifted back to end at the image
// edge, so the grid covers every pixel and every tile is full size (when the image is at least one
// tile large; a smaller side gets one tile the size of the image). Tiles are listed row by row.
#pragma once

#include <vector>

#include "cellcam/error.h"
#include "cellcam/image.h"
#include "cellcam/model_card.h"
#include "cellcam/preprocess.h"

namespace cellcam {

struct TileGrid {
  int tile_width = 0;
  int tile_height = 0;
  int columns = 0;
  int rows = 0;
  std::vector<Rect> tiles;  // rows * columns, row-major
};

Result<TileGrid> tile_grid(int image_width, int image_height, int tile_size, int stride);

// ---- when to tile: the tile plan

// kDefaultTileAbove, kDefaultMaxTiles, kMinTile, kMaxTile: limits.h.

struct TileSettings {
  int tile = 0;     // tile side in image pixels; 0: never tile
  int stride = 0;   // 0: the tile size
  int above = kDefaultTileAbove;  // tile when a side is longer than this; 0: never tile
  int max_tiles = kDefaultMaxTiles;
};

// The card's "tiling" block where it has one, else tiles of the model's input size (the longer side)
// above kDefaultTileAbove, stride = tile.
TileSettings default_tile_settings(const ModelCard& card);

// Whether an image of width x height is tiled under `settings`, and how: an empty grid (no tiles) when the
// image is classified whole. Errors: a bad tile/stride (kInvalidArgument), more tiles than max_tiles
// (kTooLarge, with the count and the limit in the message).
Result<TileGrid> plan_tiles(int width, int height, const TileSettings& settings);

// ---- the image's answer from its tiles

// tile_probs: (T,K). Binary: P(positive) = the MAXIMUM over tiles (a screen: one positive region makes the
// image positive), P(other) = 1 - that. Multiclass: the MEAN of the tile probability vectors (in double).
struct TileAggregate {
  std::vector<float> probs;  // (K)
  int positive_tiles = 0;    // binary: tiles at or above the threshold
  int best_tile = 0;         // the tile with the highest positive (binary) or top-1 (multiclass) probability
};
TileAggregate aggregate_tiles(const float* tile_probs, int T, int K, bool binary, double threshold);
// The image's out-of-distribution score (ood.h) from its T tiles' scores: binary, the score of the tile
// whose probabilities the image reports (a.best_tile); multiclass, the mean over tiles (in double).
double aggregate_tile_ood(const double* tile_ood, int T, bool binary, const TileAggregate& a);

// Per-tile raw Grad-CAM maps -> one raw map per class over the whole image. Each tile's map is carried
// back through the tile's placement on the model canvas onto a whole-image grid at the maps' own
// resolution (one cell per tile_w/cam_w x tile_h/cam_h image pixels, at most 4096 a side), averaged where
// tiles overlap; render the result with cam.h as a map whose canvas is the image itself (stretch, identity
// placement), normalised once over the whole image so tiles stay comparable.
//   cams: (T,K,cam_h,cam_w); grid: the plan the tiles came from; width x height: the image; spec: the
//   model's preprocessing (where a tile lay on its canvas).
struct StitchedMap {
  std::vector<float> maps;  // (K,height,width) of the grid below
  int width = 0;
  int height = 0;
};
Result<StitchedMap> stitch_tile_cams(const float* cams, int K, int cam_w, int cam_h, const TileGrid& grid, int width,
                                     int height, const PreprocessSpec& spec);

// The preprocessing under which a stitched map is rendered (cam.h render_heatmap): the image is its canvas.
PreprocessSpec stitched_map_spec(int width, int height);

}  // namespace cellcam
