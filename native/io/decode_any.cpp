// decode_any.cpp — see decode_any.h.
#include "decode_any.h"

#include "tiff_decode.h"

namespace cellcam::native {

Result<Image> decode_any(const std::uint8_t* bytes, std::size_t size, const DecodeLimits& limits) {
  if (sniff_format(bytes, size) == ImageFormat::kTiff) return decode_tiff(bytes, size, limits);
  return decode_image(bytes, size, limits);
}

}  // namespace cellcam::native
