// test_decode.cpp — decode_image() and probe_image() on real fixtures and on every malformed one.
// Runs natively and, compiled by em++, under node: the same expectations hold in both builds.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>

#include "cellcam/decode.h"
#include "fixtures.h"

namespace cellcam {
namespace {

using test::read_fixture;

Image decode_ok(const std::string& path) {
  const std::vector<std::uint8_t> bytes = read_fixture(path);
  Result<Image> r = decode_image(bytes.data(), bytes.size());
  EXPECT_TRUE(r.ok()) << path << ": " << (r.ok() ? "" : r.error().message);
  return r.ok() ? r.take() : Image{};
}

struct Expected {
  const char* path;
  ImageFormat format;
  int width, height, channels, bits;
};

class DecodeFixture : public ::testing::TestWithParam<Expected> {};

TEST_P(DecodeFixture, HasDeclaredLayout) {
  const Expected& e = GetParam();
  const std::vector<std::uint8_t> bytes = read_fixture(e.path);
  Result<ImageInfo> info = probe_image(bytes.data(), bytes.size());
  ASSERT_TRUE(info.ok()) << info.error().message;
  EXPECT_EQ(info.value().format, e.format);
  EXPECT_EQ(info.value().width, e.width);
  EXPECT_EQ(info.value().height, e.height);
  const Image image = decode_ok(e.path);
  EXPECT_EQ(image.width, e.width);
  EXPECT_EQ(image.height, e.height);
  EXPECT_EQ(image.channels, e.channels);
  EXPECT_EQ(image.bits, e.bits);
  EXPECT_EQ(image.samples.size(), static_cast<std::size_t>(e.width) * e.height * e.channels * e.bits / 8);
}

INSTANTIATE_TEST_SUITE_P(
    Fixtures, DecodeFixture,
    ::testing::Values(Expected{"malaria/parasitized_P61_cell_164.png", ImageFormat::kPng, 139, 151, 3, 8},
                      Expected{"malaria/parasitized_P139_cell_157.png", ImageFormat::kPng, 88, 88, 3, 8},
                      Expected{"malaria/uninfected_P97_cell_57.png", ImageFormat::kPng, 130, 133, 3, 8},
                      Expected{"pcam/tumour_c0318a09.jpg", ImageFormat::kJpeg, 96, 96, 3, 8},
                      Expected{"pcam/normal_be4fc728.jpg", ImageFormat::kJpeg, 96, 96, 3, 8},
                      Expected{"blood/neutrophil_BNE_106934.jpg", ImageFormat::kJpeg, 360, 363, 3, 8},
                      Expected{"formats/cell_gray8.png", ImageFormat::kPng, 139, 151, 1, 8},
                      Expected{"formats/cell_rgb16.png", ImageFormat::kPng, 139, 151, 3, 16},
                      Expected{"formats/cell_rgb24.bmp", ImageFormat::kBmp, 139, 151, 3, 8},
                      Expected{"formats/cell_palette.gif", ImageFormat::kGif, 139, 151, 4, 8},
                      Expected{"formats/cell_rgb.tga", ImageFormat::kTga, 139, 151, 3, 8},
                      Expected{"formats/cell_rgb_rle.tga", ImageFormat::kTga, 139, 151, 3, 8},
                      Expected{"formats/cell_progressive.jpg", ImageFormat::kJpeg, 139, 151, 3, 8},
                      Expected{"formats/cell_gray.jpg", ImageFormat::kJpeg, 139, 151, 1, 8},
                      Expected{"formats/large_2048x1536.jpg", ImageFormat::kJpeg, 2048, 1536, 3, 8}));

// The BMP and TGA fixtures were converted losslessly from the same PNG: same pixels, to the byte.
TEST(Decode, LosslessFormatsAgreeWithThePng) {
  const Image png = decode_ok("malaria/parasitized_P61_cell_164.png");
  for (const char* path : {"formats/cell_rgb24.bmp", "formats/cell_rgb.tga", "formats/cell_rgb_rle.tga"}) {
    const Image other = decode_ok(path);
    EXPECT_EQ(other.samples, png.samples) << path;
  }
}

TEST(Decode, SixteenBitPngKeepsItsLowByte) {
  const Image png8 = decode_ok("malaria/parasitized_P61_cell_164.png");
  const Image png16 = decode_ok("formats/cell_rgb16.png");
  ASSERT_EQ(png16.samples.size(), 2 * png8.samples.size());
  int low_bytes_nonzero = 0;
  for (std::size_t i = 0; i < png8.samples.size(); ++i) {
    const unsigned v16 = png16.samples[2 * i] | png16.samples[2 * i + 1] << 8;
    EXPECT_LE(std::abs(static_cast<int>(std::lround(v16 / 257.0)) - png8.samples[i]), 1) << "sample " << i;
    low_bytes_nonzero += v16 % 257 != 0;
  }
  EXPECT_GT(low_bytes_nonzero, 1000);  // really 16-bit data, not 8-bit scaled up
}

TEST(Decode, LossyFormatsStayCloseToThePng) {
  const Image png = decode_ok("malaria/parasitized_P61_cell_164.png");
  for (const char* path : {"formats/cell_progressive.jpg", "formats/cell_palette.gif"}) {
    const Image other = decode_ok(path);
    ASSERT_EQ(other.width * other.height, png.width * png.height);
    double total = 0;
    for (int p = 0; p < png.width * png.height; ++p)
      for (int c = 0; c < 3; ++c) total += std::abs(other.samples[p * other.channels + c] - png.samples[p * 3 + c]);
    EXPECT_LT(total / (png.width * png.height * 3), 4.0) << path;
  }
}

// ---- malformed input: each gets its own clear error
struct Malformed {
  const char* path;
  ErrorCode code;
  const char* message;  // must appear in the error message
};

class MalformedFixture : public ::testing::TestWithParam<Malformed> {};

TEST_P(MalformedFixture, IsRefusedWithAClearError) {
  const Malformed& m = GetParam();
  const std::vector<std::uint8_t> bytes = read_fixture(m.path);
  Result<Image> r = decode_image(bytes.data(), bytes.size());
  ASSERT_FALSE(r.ok()) << m.path << " decoded";
  EXPECT_EQ(error_code_name(r.error().code), std::string(error_code_name(m.code))) << r.error().message;
  EXPECT_NE(r.error().message.find(m.message), std::string::npos) << "got: " << r.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Fixtures, MalformedFixture,
    ::testing::Values(
        Malformed{"malformed/empty.png", ErrorCode::kEmptyInput, "empty file (0 bytes)"},
        Malformed{"malformed/truncated.png", ErrorCode::kTruncated, "truncated PNG"},
        Malformed{"malformed/truncated.jpg", ErrorCode::kTruncated, "truncated JPEG"},
        Malformed{"malformed/truncated.tif", ErrorCode::kTruncated, "truncated TIFF"},
        Malformed{"malformed/wrong_magic.png", ErrorCode::kNotAnImage, "not an image (bytes start with 88 50 4e 47"},
        Malformed{"malformed/huge_dims.png", ErrorCode::kTooLarge, "image 100000x100000 exceeds the 25000 px limit"},
        Malformed{"malformed/huge_dims.jpg", ErrorCode::kTooLarge, "image 40000x40000 exceeds the 25000 px limit"},
        Malformed{"malformed/huge_dims.tif", ErrorCode::kTooLarge, "image 100000x100000 exceeds the 25000 px limit"},
        Malformed{"malformed/random_bytes.png", ErrorCode::kNotAnImage, "not an image"},
        Malformed{"malformed/text_renamed.png", ErrorCode::kNotAnImage, "not an image (bytes start with This is)"},
        Malformed{"malformed/document.png", ErrorCode::kNotAnImage, "not an image (bytes start with %PDF"},
        Malformed{"malformed/compression_zstd.tif", ErrorCode::kUnsupportedCompression, "TIFF compression ZSTD is not supported"},
        Malformed{"malformed/compression_webp.tif", ErrorCode::kUnsupportedCompression, "TIFF compression WebP is not supported"},
        // Found by tests/fuzz: read out of bounds in Debian's stb_image 2.27 before cmake/cellcam.cmake bounded it.
        Malformed{"malformed/fuzz_jpeg_huffman_oob.jpg", ErrorCode::kCorrupt, "corrupt JPEG"},
        Malformed{"malformed/fuzz_jpeg_undefined_huffman_table.jpg", ErrorCode::kCorrupt,
                  "corrupt JPEG (a scan uses a Huffman table that was never defined)"},
        // Found by tests/fuzz: a TIFF whose first directory is at offset 0 made the probe read past the buffer.
        Malformed{"malformed/fuzz_tiff_no_directory.tif", ErrorCode::kCorrupt, "corrupt TIFF (no image directory)"}));

// Every proper prefix of a PNG and of a JPEG is an error (never a half-decoded image, never a crash).
TEST(Decode, EveryPrefixOfAFileIsRefused) {
  for (const char* path : {"malaria/parasitized_P139_cell_157.png", "pcam/normal_be4fc728.jpg", "formats/cell_palette.gif",
                           "formats/cell_rgb24.bmp", "formats/cell_rgb.tga"}) {
    const std::vector<std::uint8_t> bytes = read_fixture(path);
    // Stops one byte short: a GIF needs only its first frame, which ends just before the trailer byte.
    int refused = 0, tested = 0;
    for (std::size_t n = 0; n + 1 < bytes.size(); n += 7, ++tested) refused += !decode_image(bytes.data(), n).ok();
    EXPECT_EQ(refused, tested) << path;
  }
}

TEST(Decode, LimitsAreConfigurable) {
  const std::vector<std::uint8_t> bytes = read_fixture("malaria/parasitized_P61_cell_164.png");
  DecodeLimits side;
  side.max_side = 100;
  Result<Image> r = decode_image(bytes.data(), bytes.size(), side);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kTooLarge);
  EXPECT_EQ(r.error().message, "image 139x151 exceeds the 100 px limit");

  const std::vector<std::uint8_t> large = read_fixture("formats/large_2048x1536.jpg");
  DecodeLimits pixels;
  pixels.max_pixels = 2000000;
  r = decode_image(large.data(), large.size(), pixels);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "image 2048x1536 (3 megapixels) exceeds the 2 megapixel limit");
}

TEST(Decode, KnownFormatsWeDoNotReadAreNamed) {
  const std::string webp = std::string("RIFF\x10\x00\x00\x00WEBPVP8 ", 16) + std::string(16, '\0');
  Result<Image> r = decode_image(reinterpret_cast<const std::uint8_t*>(webp.data()), webp.size());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kUnsupportedFormat);
  EXPECT_EQ(r.error().message, "WebP images are not supported (PNG, JPEG, TIFF, BMP, GIF and TGA are)");
}

TEST(Decode, TiffPixelsAreNotDecodedHere) {
  const std::vector<std::uint8_t> bytes = read_fixture("tiff/rgb8_lzw.tif");
  EXPECT_EQ(sniff_format(bytes.data(), bytes.size()), ImageFormat::kTiff);
  Result<Image> r = decode_image(bytes.data(), bytes.size());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kUnsupportedFormat);
}

// JPEG-in-TIFF is decoded by shared/ itself (stb), so both builds give the same pixels.
TEST(Decode, JpegCompressedTiffIsDecodedHere) {
  const Image png = decode_ok("malaria/parasitized_P61_cell_164.png");
  for (const char* path : {"tiff/rgb8_jpeg_ycbcr.tif", "tiff/rgb8_jpeg_rgb.tif", "tiff/rgb8_tiled_jpeg.tif"}) {
    const Image t = decode_ok(path);
    ASSERT_EQ(t.channels, 3) << path;
    ASSERT_EQ(t.samples.size(), png.samples.size()) << path;
    double total = 0;
    for (std::size_t i = 0; i < png.samples.size(); ++i) total += std::abs(t.samples[i] - png.samples[i]);
    EXPECT_LT(total / png.samples.size(), 4.0) << path;
  }
}

}  // namespace
}  // namespace cellcam
