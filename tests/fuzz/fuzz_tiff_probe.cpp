// fuzz_tiff_probe.cpp — libFuzzer target for the TIFF probe of shared/ (tiff_probe.h): the directory
// walk, tag types and counts, strip/tile tables, limits; then, for JPEG-in-TIFF, the shared decoder.
// fuzz_decode reaches the probe too, through every other decoder; this target spends all its time here.
//   make fuzz-all FUZZ_SECONDS=600     (seeds: tests/data/tiff, tests/data/malformed/*.tif)
#include <cstddef>
#include <cstdint>

#include "cellcam/tiff_probe.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  cellcam::DecodeLimits limits;
  limits.max_side = 4096;
  limits.max_pixels = 4 * 1024 * 1024;
  const cellcam::Result<cellcam::TiffInfo> info = cellcam::probe_tiff(data, size, limits);
  if (!info.ok()) {
    if (info.error().message.empty()) __builtin_trap();
    return 0;
  }
  const cellcam::TiffInfo& t = info.value();
  (void)cellcam::tiff_output_channels(t);
  (void)cellcam::tiff_compression_name(t.compression);
  // Every strip or tile the probe accepted lies inside the file.
  if (t.chunk_offsets.size() != t.chunk_byte_counts.size()) __builtin_trap();
  for (std::size_t k = 0; k < t.chunk_offsets.size(); ++k)
    if (t.chunk_offsets[k] > size || t.chunk_byte_counts[k] > size - t.chunk_offsets[k]) __builtin_trap();
  if (t.compression == 7) {
    const cellcam::Result<cellcam::Image> image = cellcam::decode_jpeg_tiff(data, size, t, limits);
    if (!image.ok() && image.error().message.empty()) __builtin_trap();
  }
  return 0;
}
