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
        Malformed{"malformed/fuzz_tiff_no_directory.tif", ErrorCode::kCorrupt, "corrupt TIFF (no image directory)"},
        // stb_image decodes each of these without an error (scripts/make_corrupt_jpegs.py); the stream check
        // (shared/src/jpeg_check.h) refuses them.
        Malformed{"malformed/jpeg_scan_cut_short.jpg", ErrorCode::kCorrupt,
                  "JPEG decoded with errors: premature end of data in scan 1 at MCU 20 of 36 (the data stops at marker EOI)"},
        Malformed{"malformed/jpeg_corrupt_40_bytes.jpg", ErrorCode::kCorrupt, "JPEG decoded with errors: "},
        Malformed{"malformed/jpeg_restart_misnumbered.jpg", ErrorCode::kCorrupt,
                  "JPEG decoded with errors: marker RST5 where RST2 was expected after MCU 3 of 36 in scan 1"},
        Malformed{"malformed/jpeg_progressive_scan_missing.jpg", ErrorCode::kCorrupt,
                  "JPEG decoded with errors: scan 7 refines coefficient 1 of component 3 before it was sent"},
        Malformed{"malformed/jpeg_in_tiff_strip_cut_short.tif", ErrorCode::kCorrupt,
                  "corrupt TIFF (JPEG strip 0: JPEG decoded with errors: premature end of data in scan 1 at MCU 4 of 9"}));

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

// A baseline JPEG cut anywhere inside its scan data and closed with an end-of-image marker (what some
// tools make of a broken download) decodes in stb with zeros for the rest; decode_image() refuses it.
TEST(Decode, EveryScanCutShortIsRefused) {
  const std::vector<std::uint8_t> bytes = read_fixture("pcam/normal_be4fc728.jpg");
  std::size_t scan = 0;  // first byte of the scan data: after the SOS segment
  for (std::size_t i = 2; i + 4 < bytes.size() && !scan; i += 2 + (bytes[i + 2] << 8 | bytes[i + 3]))
    if (bytes[i + 1] == 0xDA) scan = i + 2 + (bytes[i + 2] << 8 | bytes[i + 3]);
  ASSERT_GT(scan, 0u);
  int refused = 0, tested = 0;
  for (std::size_t n = scan; n + 2 < bytes.size(); n += 5, ++tested) {
    std::vector<std::uint8_t> cut(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n));
    cut.push_back(0xFF);
    cut.push_back(0xD9);
    Result<Image> r = decode_image(cut.data(), cut.size());
    refused += !r.ok() && r.error().code == ErrorCode::kCorrupt &&
               r.error().message.find("decoded with errors") != std::string::npos;
  }
  EXPECT_EQ(refused, tested);
}

// Bytes between the last MCU and the end-of-image marker: data the decoder never reached (stb skips it),
// refused; zero bytes are tolerated (some cameras pad with them) and change nothing.
TEST(Decode, DataLeftOverAfterTheLastMcuIsRefusedUnlessZero) {
  const std::vector<std::uint8_t> bytes = read_fixture("pcam/normal_be4fc728.jpg");
  ASSERT_EQ(bytes[bytes.size() - 2], 0xFF);
  for (const std::vector<std::uint8_t>& extra : {std::vector<std::uint8_t>{0x12, 0x34, 0x56}, std::vector<std::uint8_t>(4, 0)}) {
    std::vector<std::uint8_t> padded(bytes.begin(), bytes.end() - 2);
    padded.insert(padded.end(), extra.begin(), extra.end());
    padded.insert(padded.end(), {0xFF, 0xD9});
    Result<Image> r = decode_image(padded.data(), padded.size());
    if (extra[0] != 0) {
      ASSERT_FALSE(r.ok());
      EXPECT_EQ(r.error().message, "JPEG decoded with errors: 3 bytes of data left over after MCU 36 of 36 in scan 1");
    } else {
      ASSERT_TRUE(r.ok()) << r.error().message;
      EXPECT_EQ(r.value().samples, decode_ok("pcam/normal_be4fc728.jpg").samples);
    }
  }
}

// Restart markers are fine when they count 0..7 in order: the misnumbered fixture, renumbered back,
// decodes to the pixels of the file it was made from (jpegtran adds them without touching a coefficient).
TEST(Decode, RestartMarkersInOrderDecode) {
  std::vector<std::uint8_t> bytes = read_fixture("malformed/jpeg_restart_misnumbered.jpg");
  int restarts = 0;
  for (std::size_t i = 0; i + 1 < bytes.size(); ++i) {
    if (bytes[i] != 0xFF || bytes[i + 1] < 0xD0 || bytes[i + 1] > 0xD7) continue;
    bytes[i + 1] = static_cast<std::uint8_t>(0xD0 + restarts++ % 8);
  }
  EXPECT_EQ(restarts, 35);  // 36 MCUs
  Result<Image> r = decode_image(bytes.data(), bytes.size());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r.value().samples, decode_ok("pcam/normal_be4fc728.jpg").samples);
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
