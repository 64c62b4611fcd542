// tiff_probe.h — a structural reader of TIFF headers, shared by both builds.
//
// Neither libtiff (native) nor utif2 (page) is trusted to refuse hostile files politely: utif2
// returns all-zero pixels for ZSTD, and either would allocate whatever a header declares. So both
// builds run this first. It reads the first IFD of a classic or BigTIFF file and checks: the
// compression against the supported list (none, LZW, Deflate, PackBits, JPEG), the sample layout,
// the declared dimensions against DecodeLimits, and that every strip or tile lies inside the file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "cellcam/error.h"
#include "cellcam/image.h"

namespace cellcam {

enum class TiffPhotometric { kMinIsWhite = 0, kMinIsBlack = 1, kRgb = 2, kPalette = 3, kYCbCr = 6 };

struct TiffInfo {
  bool big_endian = false;
  bool bigtiff = false;
  int width = 0;
  int height = 0;
  int bits_per_sample = 0;
  int samples_per_pixel = 0;
  int extra_samples = 0;    // count of ExtraSamples entries (alpha)
  int photometric = 0;      // TiffPhotometric value
  int compression = 1;      // TIFF tag 259 value
  int planar_config = 1;    // 1 contiguous, 2 separate
  bool tiled = false;
  int page_count = 1;       // IFDs reachable (stops at 64)
  int rows_per_strip = 0;   // strips: rows in each strip but the last
  int tile_width = 0;       // tiles only
  int tile_height = 0;
  std::vector<std::uint16_t> colormap;  // 3 * 2^bits entries (R..., G..., B...) for palette images
  // Where each strip or tile of the first page lies in the file (row-major, plane after plane).
  std::vector<std::uint64_t> chunk_offsets;
  std::vector<std::uint64_t> chunk_byte_counts;
  // JPEG only: the shared quantisation and Huffman tables (tag 347), 0/0 when absent.
  std::uint64_t jpeg_tables_offset = 0;
  std::uint64_t jpeg_tables_size = 0;
};

// Name of a TIFF compression value, e.g. 50000 -> "ZSTD", 34927 -> "WebP", 7 -> "JPEG".
std::string tiff_compression_name(int compression);
bool tiff_compression_supported(int compression);

// Channel count of the Image a TIFF with this info decodes to (palette -> 3, YCbCr -> 3).
int tiff_output_channels(const TiffInfo& info);

Result<TiffInfo> probe_tiff(const std::uint8_t* bytes, std::size_t size, const DecodeLimits& limits = {});

// JPEG-compressed TIFF (compression 7), decoded by the same stb JPEG decoder in both builds: each
// strip or tile is a JPEG stream (prefixed with the shared tables) and goes through stb_image.
// This is how the native and the browser build get identical pixels for JPEG-in-TIFF, which libtiff
// (libjpeg-turbo) and utif2 (pdf.js's decoder) do not give; libtiff remains the reference in tests.
Result<Image> decode_jpeg_tiff(const std::uint8_t* bytes, std::size_t size, const TiffInfo& info,
                               const DecodeLimits& limits = {});

}  // namespace cellcam
