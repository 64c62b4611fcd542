// pixels.h — turn an already decoded pixel buffer into an Image.
//
// This is how TIFFs enter the pipeline in both builds: native/ reads raw samples with libtiff, the
// page reads them with utif2, and both hand the same kind of buffer here, so palette expansion and
// min-is-white inversion happen in one place. It is also the WASM API for any caller-decoded pixels.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "cellcam/error.h"
#include "cellcam/image.h"

namespace cellcam {

enum class PixelLayout {
  kDirect,      // gray, gray+alpha, RGB or RGBA samples as given by `channels`
  kMinIsWhite,  // gray (+alpha) where 0 is white: inverted on the way in
  kPalette,     // 1 channel of 8-bit indices into `colormap`
};

struct PixelBuffer {
  int width = 0;
  int height = 0;
  int channels = 0;  // 1..4
  int bits = 8;      // 8 or 16
  PixelLayout layout = PixelLayout::kDirect;
  const void* data = nullptr;  // (H,W,C) samples; 16-bit as host-order uint16
  std::size_t size_bytes = 0;  // must equal width*height*channels*bits/8
  // Palette only: 3*N entries, all reds, then greens, then blues, 16-bit (the TIFF ColorMap layout).
  const std::uint16_t* colormap = nullptr;
  std::size_t colormap_entries = 0;  // 3*N
};

Result<Image> image_from_pixels(const PixelBuffer& pixels, const DecodeLimits& limits = {});

}  // namespace cellcam
