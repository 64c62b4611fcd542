// tiff_decode.h — TIFF decoding for the native build, with libtiff.
//
// 8- and 16-bit; gray, gray+alpha, RGB, RGBA, palette; strips and tiles, contiguous or planar;
// none, LZW, Deflate, PackBits and JPEG; the first page of a multi-page file. Every file goes through
// cellcam::probe_tiff() first (shared with the page), so unsupported compressions, hostile dimensions
// and truncated strips are refused before libtiff allocates anything. Raw samples are read (never
// libtiff's RGBA API, which premultiplies alpha) and handed to cellcam::image_from_pixels(), the same
// function the page feeds with utif2's output.
#pragma once

#include <cstddef>
#include <cstdint>

#include "cellcam/error.h"
#include "cellcam/image.h"

namespace cellcam::native {

// JPEG-compressed files go to the shared decoder (cellcam::decode_jpeg_tiff), so their pixels are the
// page's to the bit; everything else is read by libtiff.
Result<Image> decode_tiff(const std::uint8_t* bytes, std::size_t size, const DecodeLimits& limits = {});

// Everything through libtiff, JPEG included (libjpeg-turbo): the reference the shared path is tested against.
Result<Image> decode_tiff_with_libtiff(const std::uint8_t* bytes, std::size_t size, const DecodeLimits& limits = {});

}  // namespace cellcam::native
