// test_tiff_decode.cpp — libtiff decoding (native only): every variant against the PNG it came from.
#include <gtest/gtest.h>
#include <tiffio.h>

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <random>

#include "cellcam/decode.h"
#include "cellcam/tiff_probe.h"
#include "decode_any.h"
#include "tiff_decode.h"
#include "../unit/fixtures.h"

namespace cellcam {
namespace {

using test::read_fixture;

Image decode(const std::string& path) {
  const std::vector<std::uint8_t> bytes = read_fixture(path);
  Result<Image> r = native::decode_any(bytes.data(), bytes.size());
  EXPECT_TRUE(r.ok()) << path << ": " << (r.ok() ? "" : r.error().message);
  return r.ok() ? r.take() : Image{};
}

std::uint16_t s16(const Image& img, std::size_t i) {
  std::uint16_t v;
  std::memcpy(&v, img.samples.data() + 2 * i, 2);
  return v;
}

TEST(TiffDecode, LosslessRgbVariantsEqualThePng) {
  const Image png = decode("malaria/parasitized_P61_cell_164.png");
  for (const char* path : {"tiff/rgb8_none.tif", "tiff/rgb8_lzw.tif", "tiff/rgb8_deflate.tif", "tiff/rgb8_packbits.tif",
                           "tiff/rgb8_planar_lzw.tif", "tiff/rgb8_tiled_deflate.tif", "tiff/multipage_3.tif"}) {
    const Image t = decode(path);
    EXPECT_EQ(t.channels, 3) << path;
    EXPECT_EQ(t.samples, png.samples) << path;
  }
}

TEST(TiffDecode, GrayVariantsEqualTheGrayPng) {
  const Image png = decode("formats/cell_gray8.png");
  for (const char* path : {"tiff/gray8_none.tif", "tiff/gray8_packbits.tif", "tiff/miniswhite8_none.tif"})
    EXPECT_EQ(decode(path).samples, png.samples) << path;
}

TEST(TiffDecode, SixteenBitVariantsAgreeInBothByteOrders) {
  const Image a = decode("tiff/rgb16_none.tif");
  EXPECT_EQ(a.bits, 16);
  EXPECT_EQ(decode("tiff/rgb16_lzw.tif").samples, a.samples);
  EXPECT_EQ(decode("tiff/rgb16_bigendian_deflate.tif").samples, a.samples);
  const Image png16 = decode("formats/cell_rgb16.png");  // the same 16-bit samples, written as PNG
  EXPECT_EQ(png16.samples, a.samples);
  const Image g = decode("tiff/gray16_none.tif");
  EXPECT_EQ(decode("tiff/gray16_tiled_lzw.tif").samples, g.samples);
  const Image gray8 = decode("formats/cell_gray8.png");
  for (std::size_t i = 0; i < gray8.samples.size(); ++i) ASSERT_EQ(s16(g, i) / 257, gray8.samples[i]);
}

TEST(TiffDecode, AlphaIsReadRawNotPremultiplied) {
  const Image png = decode("malaria/parasitized_P61_cell_164.png");
  const Image rgba = decode("tiff/rgba8_lzw.tif");
  ASSERT_EQ(rgba.channels, 4);
  for (int p = 0; p < png.width * png.height; ++p) {
    const int sum = png.samples[3 * p] + png.samples[3 * p + 1] + png.samples[3 * p + 2];
    for (int c = 0; c < 3; ++c) ASSERT_EQ(rgba.samples[4 * p + c], png.samples[3 * p + c]);
    ASSERT_EQ(rgba.samples[4 * p + 3], sum < 30 ? 0 : 255);
  }
  const Image ga = decode("tiff/graya8_deflate.tif");
  const Image gray8 = decode("formats/cell_gray8.png");
  ASSERT_EQ(ga.channels, 2);
  for (int p = 0; p < gray8.width * gray8.height; ++p) ASSERT_EQ(ga.samples[2 * p], gray8.samples[p]);
}

TEST(TiffDecode, LossyAndPaletteVariantsStayClose) {
  const Image png = decode("malaria/parasitized_P61_cell_164.png");
  for (const char* path : {"tiff/rgb8_jpeg_ycbcr.tif", "tiff/rgb8_jpeg_rgb.tif", "tiff/rgb8_tiled_jpeg.tif"}) {
    const Image t = decode(path);
    ASSERT_EQ(t.samples.size(), png.samples.size()) << path;
    double total = 0;
    for (std::size_t i = 0; i < png.samples.size(); ++i) total += std::abs(t.samples[i] - png.samples[i]);
    EXPECT_LT(total / png.samples.size(), 6.0) << path;
  }
}

// The shared JPEG-in-TIFF decoder (stb) against libtiff's (libjpeg-turbo): two IDCTs and two colour
// conversions, so close but not equal. Prints the max difference like any reference check.
TEST(TiffDecode, SharedJpegTiffDecoderMatchesLibtiff) {
  for (const char* path : {"tiff/rgb8_jpeg_ycbcr.tif", "tiff/rgb8_jpeg_rgb.tif", "tiff/rgb8_tiled_jpeg.tif"}) {
    const std::vector<std::uint8_t> bytes = read_fixture(path);
    Result<Image> shared = native::decode_tiff(bytes.data(), bytes.size());
    Result<Image> reference = native::decode_tiff_with_libtiff(bytes.data(), bytes.size());
    ASSERT_TRUE(shared.ok() && reference.ok()) << path;
    ASSERT_EQ(shared.value().samples.size(), reference.value().samples.size());
    int maxdiff = 0;
    double total = 0;
    for (std::size_t i = 0; i < shared.value().samples.size(); ++i) {
      const int d = std::abs(shared.value().samples[i] - reference.value().samples[i]);
      maxdiff = std::max(maxdiff, d);
      total += d;
    }
    const double mean = total / shared.value().samples.size();
    std::printf("%s: maxdiff %d, mean %.3f (shared stb vs libtiff)\n", path, maxdiff, mean);
    EXPECT_LE(maxdiff, 4) << path;
    EXPECT_LT(mean, 0.1) << path;
  }
}

// Exactly what libtiff's own pal2rgb makes of the palette, and (dithered) close to the original cell.
TEST(TiffDecode, PaletteExpandsAsLibtiffsPal2rgbDoes) {
  const Image reference = decode("tiff/palette8_expanded_by_pal2rgb.tif");
  EXPECT_EQ(decode("tiff/palette8_none.tif").samples, reference.samples);
  EXPECT_EQ(decode("tiff/palette8_lzw.tif").samples, reference.samples);
  const Image png = decode("malaria/parasitized_P61_cell_164.png");
  double total = 0;
  for (std::size_t i = 0; i < png.samples.size(); ++i) total += std::abs(reference.samples[i] - png.samples[i]);
  EXPECT_LT(total / png.samples.size(), 20.0);  // Floyd-Steinberg noise; a wrong colour map is > 40
}

TEST(TiffDecode, MalformedTiffsAreRefused) {
  for (const char* path : {"malformed/truncated.tif", "malformed/huge_dims.tif", "malformed/compression_zstd.tif",
                           "malformed/compression_webp.tif", "malformed/lzw_palette8_code_not_in_table.tif",
                           "malformed/lzw_pal2rgb_code_not_in_table.tif", "malformed/lzw_rgb8_code_not_in_table.tif",
                           "malformed/lzw_rgba8_code_not_in_table.tif"}) {
    const std::vector<std::uint8_t> bytes = read_fixture(path);
    Result<Image> r = native::decode_tiff(bytes.data(), bytes.size());
    ASSERT_FALSE(r.ok()) << path;
    EXPECT_FALSE(r.error().message.empty());
  }
}

// Damaged compressed data reaches libtiff itself: it must come back as an error or an image, never a crash.
TEST(TiffDecode, CorruptStripDataIsContained) {
  std::vector<std::uint8_t> bytes = read_fixture("tiff/rgb8_lzw.tif");
  int errors = 0;
  for (std::size_t start = 16; start < 8000; start += 997) {
    std::vector<std::uint8_t> damaged = bytes;
    for (std::size_t i = start; i < start + 64; ++i) damaged[i] ^= 0x5a;
    Result<Image> r = native::decode_tiff(damaged.data(), damaged.size());
    if (r.ok()) {
      EXPECT_EQ(r.value().width, 139);
    } else {
      ++errors;
      EXPECT_NE(r.error().message.find("TIFF"), std::string::npos) << r.error().message;
    }
  }
  EXPECT_GT(errors, 0);
}


// ---- The shared LZW check against libtiff itself
// probe_tiff() walks LZW strips to refuse, in both builds, exactly what libtiff 4.5 refuses. Checked
// here on libtiff alone (no probe in front): every strip or tile read as decode_tiff() reads them.

struct RawFile {
  const std::vector<std::uint8_t>* bytes;
  toff_t pos = 0;
  std::string error;
};
tmsize_t raw_read(thandle_t h, void* buf, tmsize_t n) {
  auto* f = static_cast<RawFile*>(h);
  const toff_t size = f->bytes->size();
  if (f->pos >= size || n <= 0) return 0;
  const toff_t count = std::min<toff_t>(static_cast<toff_t>(n), size - f->pos);
  std::memcpy(buf, f->bytes->data() + f->pos, count);
  f->pos += count;
  return static_cast<tmsize_t>(count);
}
tmsize_t raw_write(thandle_t, void*, tmsize_t) { return -1; }
toff_t raw_seek(thandle_t h, toff_t off, int whence) {
  auto* f = static_cast<RawFile*>(h);
  f->pos = (whence == SEEK_SET ? 0 : whence == SEEK_CUR ? f->pos : f->bytes->size()) + off;
  return f->pos;
}
int raw_close(thandle_t) { return 0; }
toff_t raw_size(thandle_t h) { return static_cast<RawFile*>(h)->bytes->size(); }
int raw_map(thandle_t, void**, toff_t*) { return 0; }
void raw_unmap(thandle_t, void*, toff_t) {}
int raw_error(TIFF*, void* user, const char*, const char* fmt, va_list ap) {
  auto* f = static_cast<RawFile*>(user);
  char buf[512];
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  if (f->error.empty()) f->error = buf;
  return 1;
}
int raw_warning(TIFF*, void*, const char*, const char*, va_list) { return 1; }

// Whether libtiff reads every strip or tile of the first page; *why = its first error otherwise.
bool libtiff_reads_all(const std::vector<std::uint8_t>& bytes, std::string* why) {
  RawFile file{&bytes, 0, {}};
  TIFFOpenOptions* options = TIFFOpenOptionsAlloc();
  TIFFOpenOptionsSetErrorHandlerExtR(options, raw_error, &file);
  TIFFOpenOptionsSetWarningHandlerExtR(options, raw_warning, &file);
  TIFF* tif = TIFFClientOpenExt("memory", "rm", &file, raw_read, raw_write, raw_seek, raw_close, raw_size, raw_map,
                                raw_unmap, options);
  TIFFOpenOptionsFree(options);
  if (!tif) {
    *why = file.error;
    return false;
  }
  const bool tiled = TIFFIsTiled(tif);
  const tmsize_t chunk = tiled ? TIFFTileSize(tif) : TIFFStripSize(tif);
  std::vector<std::uint8_t> buf(static_cast<std::size_t>(chunk));
  const std::uint32_t n = tiled ? TIFFNumberOfTiles(tif) : TIFFNumberOfStrips(tif);
  bool ok = true;
  for (std::uint32_t k = 0; k < n && ok; ++k)
    ok = (tiled ? TIFFReadEncodedTile(tif, k, buf.data(), chunk) : TIFFReadEncodedStrip(tif, k, buf.data(), chunk)) >= 0;
  if (!ok) *why = file.error;
  TIFFClose(tif);
  return ok;
}

TEST(TiffLzwCheck, DamagedLzwFixturesLibtiffRefusesToo) {
  for (const char* path : {"malformed/lzw_palette8_code_not_in_table.tif", "malformed/lzw_pal2rgb_code_not_in_table.tif",
                           "malformed/lzw_rgb8_code_not_in_table.tif", "malformed/lzw_rgba8_code_not_in_table.tif"}) {
    const std::vector<std::uint8_t> bytes = read_fixture(path);
    std::string why;
    EXPECT_FALSE(libtiff_reads_all(bytes, &why)) << path;
    EXPECT_EQ(why, "Using code not yet in table") << path;
    Result<Image> r = native::decode_tiff(bytes.data(), bytes.size());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().message.rfind("corrupt TIFF (LZW strip 0: code ", 0), 0u) << r.error().message;
  }
}

// Random damage inside the strips of every LZW fixture (bytes, bits, runs, zeroed tails): the probe
// accepts exactly the copies libtiff reads (2,400 copies, about 0.5 s).
TEST(TiffLzwCheck, ProbeAgreesWithLibtiffOnDamagedCopies) {
  int accepted = 0, refused = 0;
  unsigned seed = 1;
  for (const char* path : {"tiff/rgb8_lzw.tif", "tiff/rgb16_lzw.tif", "tiff/rgb8_planar_lzw.tif", "tiff/gray16_tiled_lzw.tif",
                           "tiff/palette8_lzw.tif", "tiff/rgba8_lzw.tif", "tiff/palette8_expanded_by_pal2rgb.tif",
                           "tiff/multipage_3.tif"}) {
    const std::vector<std::uint8_t> base = read_fixture(path);
    Result<TiffInfo> info = probe_tiff(base.data(), base.size());
    ASSERT_TRUE(info.ok()) << path;
    std::string why;
    ASSERT_TRUE(libtiff_reads_all(base, &why)) << path << ": " << why;
    std::mt19937 rng(seed++);
    const auto& offsets = info.value().chunk_offsets;
    const auto& counts = info.value().chunk_byte_counts;
    for (int i = 0; i < 300; ++i) {
      std::vector<std::uint8_t> b = base;
      const std::size_t k = rng() % offsets.size();
      const std::size_t off = offsets[k], len = counts[k];
      switch (i % 4) {
        case 0: for (unsigned j = 0, m = 1 + rng() % 4; j < m; ++j) b[off + rng() % len] = static_cast<std::uint8_t>(rng()); break;
        case 1: b[off + rng() % len] ^= static_cast<std::uint8_t>(1u << (rng() % 8)); break;
        case 2: {
          const std::size_t p = off + rng() % len, end = std::min(off + len, p + 1 + rng() % 64);
          for (std::size_t q = p; q < end; ++q) b[q] = static_cast<std::uint8_t>(rng());
          break;
        }
        default:
          for (std::size_t q = off + len - 1 - rng() % std::min<std::size_t>(len, 40); q < off + len; ++q) b[q] = 0;
      }
      Result<TiffInfo> probed = probe_tiff(b.data(), b.size());
      const bool libtiff_ok = libtiff_reads_all(b, &why);
      EXPECT_EQ(probed.ok(), libtiff_ok) << path << " copy " << i << ": probe says "
                                         << (probed.ok() ? "ok" : probed.error().message) << ", libtiff "
                                         << (libtiff_ok ? "ok" : why);
      (libtiff_ok ? accepted : refused) += 1;
    }
  }
  std::printf("damaged LZW copies: %d read by both, %d refused by both\n", accepted, refused);
  EXPECT_GT(accepted, 0);
  EXPECT_GT(refused, 0);
}

}  // namespace
}  // namespace cellcam
