// fuzz_decode.cpp — libFuzzer target for every decoder behind `decode_any`: the structural probes,
// stb_image (PNG, JPEG, BMP, GIF, TGA), the TIFF probe, libtiff and the shared JPEG-in-TIFF path,
// then preprocessing of whatever decoded. Limits are small so the fuzzer explores parsing, not memory.
//   make fuzz FUZZ_SECONDS=600
#include <cstddef>
#include <cstdint>

#include "cellcam/decode.h"
#include "cellcam/preprocess.h"
#include "decode_any.h"
#include "tiff_decode.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  cellcam::DecodeLimits limits;
  limits.max_side = 4096;
  limits.max_pixels = 4 * 1024 * 1024;
  cellcam::Result<cellcam::Image> image = cellcam::native::decode_any(data, size, limits);
  if (image.ok()) {
    cellcam::PreprocessSpec spec;
    spec.width = 16;
    spec.height = 16;
    (void)cellcam::preprocess(image.value(), spec);
  } else if (image.error().message.empty()) {
    __builtin_trap();  // every failure must explain itself
  }
  // The libtiff reference path sees JPEG-in-TIFF too.
  if (cellcam::sniff_format(data, size) == cellcam::ImageFormat::kTiff)
    (void)cellcam::native::decode_tiff_with_libtiff(data, size, limits);
  return 0;
}
