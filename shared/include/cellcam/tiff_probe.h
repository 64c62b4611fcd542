// tiff_probe.h — a structural reader of TIFF headers, shared by both builds.
//
// Neither libtiff (native) nor utif2 (page) is trusted to refuse hostile files politely: utif2
// returns all-zero pixels for ZSTD, and either would allocate whatever a header declares. So both
// builds run this first. It reads the first IFD of a classic or BigTIFF file and checks: the
// compression against the supported list (none, LZW, Deflate, PackBits, JPEG), the sample layout,
// the declared dimensions against DecodeLimits, and that every strip or tile lies inside the file.
// LZW strips and tiles are also walked code by code (check_tiff_lzw_chunk below), so a damaged LZW
// stream is refused here, with the same message in both builds, instead of by libtiff natively and
// not at all by utif2 (which loops on some of them until the page's timeout).
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
  int fill_order = 1;       // tag 266: 2 = bits of each byte stored least significant first
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

// ---- LZW (compression 5)
// probe_tiff() walks every LZW strip or tile of the first page with check_tiff_lzw_chunk() and
// refuses the file on the first problem, e.g. "corrupt TIFF (LZW strip 3: code 4000 at byte 812 not
// yet in table)" (kCorrupt) or "truncated TIFF (LZW strip 0: data end after 100 of 417 bytes, without
// an EOI code)" (kTruncated). It accepts and refuses what libtiff 4.5 does (see tiff_lzw.cpp), so the
// CLI and the page agree. Nothing is decoded into memory: the walk counts bytes and stops at `expected`.
// Old-style LZW (tiff_lzw_is_old_style) is refused as an unsupported compression: libtiff reads it, but
// utif2 silently decodes it to other pixels. check_tiff_lzw_chunk() can still walk it.
struct TiffLzwCheck {
  bool ok = true;
  bool truncated = false;     // the data ran out before `expected` bytes (else: corrupt)
  std::string problem;        // what went wrong, e.g. "code 4000 at byte 812 not yet in table"
  std::uint64_t decoded = 0;  // bytes the stream yielded before the problem (expected when ok)
};

// One chunk's compressed bytes; expected = the bytes libtiff asks for (a strip's own rows, a whole tile).
// old_style: libtiff's pre-1991 LSB-first codes (see tiff_lzw_is_old_style); reversed_bits: FillOrder 2.
TiffLzwCheck check_tiff_lzw_chunk(const std::uint8_t* data, std::size_t size, std::uint64_t expected, bool old_style,
                                  bool reversed_bits);

// libtiff's test, applied to the first chunk and then used for the whole file: bytes 0x00, then odd.
bool tiff_lzw_is_old_style(const std::uint8_t* first_chunk, std::size_t size, bool reversed_bits);

// JPEG-compressed TIFF (compression 7), decoded by the same stb JPEG decoder in both builds: each
// strip or tile is a JPEG stream (prefixed with the shared tables) and goes through stb_image.
// This is how the native and the browser build get identical pixels for JPEG-in-TIFF, which libtiff
// (libjpeg-turbo) and utif2 (pdf.js's decoder) do not give; libtiff remains the reference in tests.
Result<Image> decode_jpeg_tiff(const std::uint8_t* bytes, std::size_t size, const TiffInfo& info,
                               const DecodeLimits& limits = {});

}  // namespace cellcam
