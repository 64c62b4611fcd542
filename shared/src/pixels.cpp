// pixels.cpp — caller-decoded pixel buffers (TIFF via libtiff or utif2, or any other source) to Image.
#include "cellcam/pixels.h"

#include <cstring>
#include <string>

namespace cellcam {

Result<Image> image_from_pixels(const PixelBuffer& p, const DecodeLimits& limits) {
  if (p.layout == PixelLayout::kPalette) {
    if (p.channels != 1 || p.bits != 8)
      return make_error(ErrorCode::kInvalidArgument, "palette pixels must be one 8-bit index per pixel");
    if (p.colormap == nullptr || p.colormap_entries < 3 || p.colormap_entries % 3 != 0)
      return make_error(ErrorCode::kInvalidArgument, "palette pixels need a colour map of 3*N entries");
  }
  Result<Image> made = make_image(p.width, p.height, p.layout == PixelLayout::kPalette ? 3 : p.channels, p.bits, limits);
  if (!made) return made;
  Image& image = made.value();
  const std::size_t pixel_count = static_cast<std::size_t>(p.width) * p.height;
  const std::size_t expected = pixel_count * p.channels * (p.bits / 8);
  if (p.data == nullptr || p.size_bytes != expected)
    return make_error(ErrorCode::kInvalidArgument, "pixel buffer holds " + std::to_string(p.size_bytes) + " bytes, " +
                                                       std::to_string(p.width) + "x" + std::to_string(p.height) + "x" +
                                                       std::to_string(p.channels) + " at " + std::to_string(p.bits) +
                                                       " bits needs " + std::to_string(expected));
  const auto* src = static_cast<const std::uint8_t*>(p.data);
  switch (p.layout) {
    case PixelLayout::kDirect:
      std::memcpy(image.samples.data(), src, expected);
      break;
    case PixelLayout::kMinIsWhite: {
      std::memcpy(image.samples.data(), src, expected);
      // Invert the gray sample, keep alpha as it is.
      const int alpha = image.has_alpha() ? image.channels - 1 : -1;
      for (std::size_t i = 0; i < pixel_count * image.channels; ++i) {
        if (static_cast<int>(i % image.channels) == alpha) continue;
        if (image.bits == 8) {
          image.samples[i] = static_cast<std::uint8_t>(255 - image.samples[i]);
        } else {
          std::uint16_t v;
          std::memcpy(&v, &image.samples[2 * i], 2);
          v = static_cast<std::uint16_t>(65535 - v);
          std::memcpy(&image.samples[2 * i], &v, 2);
        }
      }
      break;
    }
    case PixelLayout::kPalette: {
      // TIFF ColorMap: 16-bit entries, all reds then greens then blues; 8-bit output keeps the high byte.
      const std::size_t n = p.colormap_entries / 3;
      for (std::size_t i = 0; i < pixel_count; ++i) {
        const std::size_t index = src[i];
        if (index >= n)
          return make_error(ErrorCode::kCorrupt, "palette index " + std::to_string(index) + " outside a colour map of " +
                                                     std::to_string(n) + " entries");
        for (int c = 0; c < 3; ++c) image.samples[3 * i + c] = static_cast<std::uint8_t>(p.colormap[c * n + index] >> 8);
      }
      break;
    }
  }
  return made;
}

}  // namespace cellcam
