// decode_any.h — bytes of any supported format -> Image: TIFF through libtiff (tiff_decode.h), every
// other format through shared/'s decode_image(). The one decoder the native commands call.
#pragma once

#include <cstddef>
#include <cstdint>

#include "cellcam/decode.h"
#include "cellcam/error.h"
#include "cellcam/image.h"

namespace cellcam::native {

Result<Image> decode_any(const std::uint8_t* bytes, std::size_t size, const DecodeLimits& limits = {});

}  // namespace cellcam::native
