// tiling.cpp — tile rectangles covering an image; see tiling.h for the placement rule.
#include "cellcam/tiling.h"

#include <string>

namespace cellcam {
namespace {

// Start positions along one axis of length `size`.
std::vector<int> positions(int size, int tile, int stride) {
  std::vector<int> out;
  if (size <= tile) return {0};
  for (int p = 0; p + tile < size; p += stride) out.push_back(p);
  out.push_back(size - tile);  // the loop stops short of the edge, so this one is new
  return out;
}

}  // namespace

Result<TileGrid> tile_grid(int image_width, int image_height, int tile_size, int stride) {
  if (image_width <= 0 || image_height <= 0) return make_error(ErrorCode::kInvalidArgument, "image has no pixels");
  if (tile_size <= 0) return make_error(ErrorCode::kInvalidArgument, "tile size must be positive");
  if (stride <= 0 || stride > tile_size)
    return make_error(ErrorCode::kInvalidArgument, "tile stride must be between 1 and the tile size (" +
                                                       std::to_string(tile_size) + "), got " + std::to_string(stride));
  TileGrid grid;
  grid.tile_width = image_width < tile_size ? image_width : tile_size;
  grid.tile_height = image_height < tile_size ? image_height : tile_size;
  const std::vector<int> xs = positions(image_width, tile_size, stride);
  const std::vector<int> ys = positions(image_height, tile_size, stride);
  grid.columns = static_cast<int>(xs.size());
  grid.rows = static_cast<int>(ys.size());
  grid.tiles.reserve(xs.size() * ys.size());
  for (int y : ys)
    for (int x : xs) grid.tiles.push_back(Rect{x, y, grid.tile_width, grid.tile_height});
  return grid;
}

}  // namespace cellcam

// ---- the tile plan, aggregation and stitching (tiling.h)

#include <algorithm>
#include <cmath>

#include "cellcam/ensemble.h"  // sample_bilinear

namespace cellcam {

TileSettings default_tile_settings(const ModelCard& card) {
  TileSettings s;
  s.tile = card.tiling.tile > 0 ? card.tiling.tile : std::max(card.preprocess.width, card.preprocess.height);
  s.stride = card.tiling.stride > 0 ? card.tiling.stride : s.tile;
  if (card.tiling.above > 0) s.above = card.tiling.above;
  return s;
}

Result<TileGrid> plan_tiles(int width, int height, const TileSettings& s) {
  if (width <= 0 || height <= 0) return make_error(ErrorCode::kInvalidArgument, "image has no pixels");
  if (s.tile <= 0 || s.above <= 0 || (width <= s.above && height <= s.above)) return TileGrid{};
  if (s.tile < kMinTile || s.tile > kMaxTile)
    return make_error(ErrorCode::kInvalidArgument, "a tile of " + std::to_string(s.tile) + " px is outside " +
                                                       std::to_string(kMinTile) + " to " + std::to_string(kMaxTile) + " px");
  const int stride = s.stride > 0 ? s.stride : s.tile;
  // Count before listing: a 1-pixel tile on a large image must be refused without allocating millions.
  auto along = [&](int size) -> long long { return size <= s.tile ? 1 : (size - s.tile + stride - 1) / stride + 1; };
  if (stride <= s.tile) {
    const long long count = along(width) * along(height);
    if (count > s.max_tiles)
      return make_error(ErrorCode::kTooLarge, std::to_string(width) + "x" + std::to_string(height) +
                                                  " image would be cut into " + std::to_string(count) + " tiles of " +
                                                  std::to_string(s.tile) + " px (at most " + std::to_string(s.max_tiles) +
                                                  "): use a larger tile");
  }
  return tile_grid(width, height, s.tile, stride);
}

TileAggregate aggregate_tiles(const float* tile_probs, int T, int K, bool binary, double threshold) {
  TileAggregate a;
  a.probs.assign(K, 0.0f);
  if (T <= 0) return a;
  if (binary) {
    float p = tile_probs[1];
    for (int t = 0; t < T; ++t) {
      const float q = tile_probs[t * K + 1];
      if (q > p || t == 0) {
        p = q;
        a.best_tile = t;
      }
      if (q >= threshold) ++a.positive_tiles;
    }
    a.probs[1] = p;
    a.probs[0] = static_cast<float>(1.0 - static_cast<double>(p));
    return a;
  }
  std::vector<double> sum(K, 0.0);
  double best = -1.0;
  for (int t = 0; t < T; ++t) {
    int top = 0;
    for (int k = 0; k < K; ++k) {
      sum[k] += tile_probs[t * K + k];
      if (tile_probs[t * K + k] > tile_probs[t * K + top]) top = k;
    }
    if (tile_probs[t * K + top] > best) {
      best = tile_probs[t * K + top];
      a.best_tile = t;
    }
  }
  for (int k = 0; k < K; ++k) a.probs[k] = static_cast<float>(sum[k] / T);
  return a;
}

double aggregate_tile_ood(const double* tile_ood, int T, bool binary, const TileAggregate& a) {
  if (T <= 0) return -1.0;  // no score (decision.h kNoOodScore)
  if (binary) return tile_ood[std::min(std::max(a.best_tile, 0), T - 1)];
  double sum = 0.0;
  for (int t = 0; t < T; ++t) sum += tile_ood[t];
  return sum / T;
}

Result<StitchedMap> stitch_tile_cams(const float* cams, int K, int cam_w, int cam_h, const TileGrid& grid, int width,
                                     int height, const PreprocessSpec& spec) {
  if (grid.tiles.empty() || K < 1 || cam_w < 1 || cam_h < 1 || width < 1 || height < 1)
    return make_error(ErrorCode::kInvalidArgument, "stitch_tile_cams: no tiles or an empty map");
  const Rect& first = grid.tiles[0];
  Result<CanvasPlacement> placed = canvas_placement(first.width, first.height, spec);
  if (!placed) return placed.error();
  const CanvasPlacement& pl = placed.value();
  StitchedMap out;
  out.width = std::max(1, std::min(4096, static_cast<int>(std::floor(static_cast<double>(width) * cam_w / first.width + 0.5))));
  out.height = std::max(1, std::min(4096, static_cast<int>(std::floor(static_cast<double>(height) * cam_h / first.height + 0.5))));
  const double cell_w = static_cast<double>(width) / out.width, cell_h = static_cast<double>(height) / out.height;
  const std::size_t cells = static_cast<std::size_t>(out.width) * out.height, plane = static_cast<std::size_t>(cam_w) * cam_h;
  std::vector<double> sums(K * cells, 0.0);
  std::vector<int> counts(cells, 0);
  for (std::size_t t = 0; t < grid.tiles.size(); ++t) {
    const Rect& r = grid.tiles[t];
    const int i0 = std::max(0, static_cast<int>(std::ceil(r.x / cell_w - 0.5)));
    const int i1 = std::min(out.width - 1, static_cast<int>(std::ceil((r.x + r.width) / cell_w - 0.5)) - 1);
    const int j0 = std::max(0, static_cast<int>(std::ceil(r.y / cell_h - 0.5)));
    const int j1 = std::min(out.height - 1, static_cast<int>(std::ceil((r.y + r.height) / cell_h - 0.5)) - 1);
    for (int j = j0; j <= j1; ++j) {
      const double cy = pl.y0 + ((j + 0.5) * cell_h - r.y) * pl.scale_y;
      if (cy < 0 || cy >= spec.height) continue;
      const double v = (cy * cam_h) / spec.height - 0.5;
      for (int i = i0; i <= i1; ++i) {
        const double cx = pl.x0 + ((i + 0.5) * cell_w - r.x) * pl.scale_x;
        if (cx < 0 || cx >= spec.width) continue;
        const double u = (cx * cam_w) / spec.width - 0.5;
        const std::size_t cell = static_cast<std::size_t>(j) * out.width + i;
        ++counts[cell];
        for (int k = 0; k < K; ++k)
          sums[k * cells + cell] += sample_bilinear(cams + (t * K + k) * plane, cam_w, cam_h, u, v);
      }
    }
  }
  out.maps.resize(K * cells);
  for (int k = 0; k < K; ++k)
    for (std::size_t c = 0; c < cells; ++c)
      out.maps[k * cells + c] = counts[c] > 0 ? static_cast<float>(sums[k * cells + c] / counts[c]) : 0.0f;
  return out;
}

PreprocessSpec stitched_map_spec(int width, int height) {
  PreprocessSpec s;
  s.width = width;
  s.height = height;
  s.aspect = AspectMode::kStretch;
  return s;
}

}  // namespace cellcam
