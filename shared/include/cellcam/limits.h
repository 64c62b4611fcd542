// limits.h — every limit on what cellcam accepts, in one place. The CLI's option checks and readers, the
// decoders and the tile plan use these constants; the page reads them through the wasm module
// (`cellcam.limits()`), so a file refused in one is refused in the other with the same words.
#pragma once

#include <string>

#include "cellcam/error.h"

namespace cellcam {

// Files: read whole into memory (the page holds them as ArrayBuffers), so their size is bounded first.
constexpr long long kMaxFileBytes = 512LL << 20;

// Declared image dimensions, checked before any pixel memory is allocated (DecodeLimits' defaults).
constexpr long long kMaxSide = 25000;
constexpr long long kMaxPixels = 100000000;  // 100 megapixels

// Maps and overlays (cam.h): refused before allocating, so size_t arithmetic (4 bytes a pixel at most)
// cannot wrap in wasm32. Not the decode limits: a caller may have raised those, and the map must still
// be drawable on what decoded.
constexpr long long kMaxDrawPixels = 1LL << 29;

// Tiles of large images (tiling.h): a tile smaller than kMinTile says nothing a model can read, and a
// tiny tile on a huge image would take unbounded memory and time, hence the count limit.
constexpr int kMinTile = 8;
constexpr int kMaxTile = 4096;
constexpr int kMaxTileAbove = 100000;
constexpr int kDefaultTileAbove = 512;  // images with a longer side are classified tile by tile
constexpr int kDefaultMaxTiles = 4096;

// kTooLarge "file is 600 MB; cellcam reads files up to 512 MB" for a file over kMaxFileBytes.
inline Result<bool> check_file_size(long long bytes) {
  if (bytes <= kMaxFileBytes) return true;
  return make_error(ErrorCode::kTooLarge, "file is " + std::to_string(bytes >> 20) + " MB; cellcam reads files up to " +
                                              std::to_string(kMaxFileBytes >> 20) + " MB");
}

}  // namespace cellcam
