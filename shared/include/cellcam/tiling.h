// tiling.h — cover a large image (e.g. a 2048x1536 microscopy photo) with fixed-size tiles.
//
// Tiles start every `stride` pixels; the last row and column are shifted back to end at the image
// edge, so the grid covers every pixel and every tile is full size (when the image is at least one
// tile large; a smaller side gets one tile the size of the image). Tiles are listed row by row.
#pragma once

#include <vector>

#include "cellcam/error.h"
#include "cellcam/image.h"

namespace cellcam {

struct TileGrid {
  int tile_width = 0;
  int tile_height = 0;
  int columns = 0;
  int rows = 0;
  std::vector<Rect> tiles;  // rows * columns, row-major
};

Result<TileGrid> tile_grid(int image_width, int image_height, int tile_size, int stride);

}  // namespace cellcam
