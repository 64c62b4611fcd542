// decode.h — decode image files from bytes in memory: PNG, JPEG, BMP, GIF (first frame), TGA.
//
// Basic usage:
//   cellcam::Result<cellcam::Image> r = cellcam::decode_image(bytes.data(), bytes.size());
//   if (!r) { puts(r.error().message.c_str()); }
//
// Every file is first walked structurally by probe_image(): signature, declared dimensions (checked
// against DecodeLimits before anything is allocated) and, where the format makes it cheap, whether the
// file ends where its structure says (so a truncated PNG or JPEG is an error, not a half-grey image).
// Pixels come from stb_image, compiled without SIMD so the native and WASM builds decode identically.
// stb decodes some corrupt JPEG data without an error (zeros where the data ends early, a scan stopped
// at a stray marker, misnumbered restarts, ...), so every JPEG stream stb accepts is then Huffman-decoded
// once more by a structural check (shared/src/jpeg_check.h): what fails it is refused with kCorrupt,
// "JPEG decoded with errors: <what>", instead of returning garbage pixels. Good streams are unaffected.
// TIFF is recognised and probed here (tiff_probe.h). JPEG-compressed TIFF is decoded here too (by stb,
// for identical pixels in both builds); other TIFF pixels come from libtiff in native/ or utif2 in the
// page, and decode_image() refuses them with kUnsupportedFormat.
//
// Thread-safety: all functions are reentrant; stb_image's failure reason is thread-local here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "cellcam/error.h"
#include "cellcam/image.h"

namespace cellcam {

enum class ImageFormat { kUnknown, kPng, kJpeg, kBmp, kGif, kTga, kTiff };

const char* format_name(ImageFormat format);  // "PNG", "JPEG", ...

// Signature-only detection; TGA has no signature and is reported as kUnknown here.
ImageFormat sniff_format(const std::uint8_t* bytes, std::size_t size);

struct ImageInfo {
  ImageFormat format = ImageFormat::kUnknown;
  int width = 0;
  int height = 0;
  int channels = 0;  // as stored (before any palette expansion); 0 when the header does not say
  int bits = 8;
};

// Structural check + declared dimensions. Allocates nothing proportional to the image.
Result<ImageInfo> probe_image(const std::uint8_t* bytes, std::size_t size, const DecodeLimits& limits = {});

// Decodes to an Image with the file's own channel count and bit depth (16-bit PNG stays 16-bit).
Result<Image> decode_image(const std::uint8_t* bytes, std::size_t size, const DecodeLimits& limits = {});

}  // namespace cellcam
