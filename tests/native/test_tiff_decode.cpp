// test_tiff_decode.cpp — libtiff decoding (native only): every variant against the PNG it came from.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>

#include "cellcam/decode.h"
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
                           "malformed/compression_webp.tif"}) {
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

}  // namespace
}  // namespace cellcam
