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
