// test_tiff_probe.cpp — the TIFF structure reader both builds run before any TIFF decoder.
#include <gtest/gtest.h>

#include "cellcam/tiff_probe.h"
#include "fixtures.h"

namespace cellcam {
namespace {

using test::read_fixture;

TiffInfo probe_ok(const std::string& path) {
  const std::vector<std::uint8_t> bytes = read_fixture(path);
  Result<TiffInfo> r = probe_tiff(bytes.data(), bytes.size());
  EXPECT_TRUE(r.ok()) << path << ": " << (r.ok() ? "" : r.error().message);
  return r.ok() ? r.value() : TiffInfo{};
}

struct Expected {
  const char* path;
  int bits, samples, photometric, compression;
  bool tiled;
  int planar;
};

class TiffFixture : public ::testing::TestWithParam<Expected> {};

TEST_P(TiffFixture, HeaderIsReadCorrectly) {
  const Expected& e = GetParam();
  const TiffInfo t = probe_ok(e.path);
  EXPECT_EQ(t.width, 139);
  EXPECT_EQ(t.height, 151);
  EXPECT_EQ(t.bits_per_sample, e.bits);
  EXPECT_EQ(t.samples_per_pixel, e.samples);
  EXPECT_EQ(t.photometric, e.photometric);
  EXPECT_EQ(t.compression, e.compression);
  EXPECT_EQ(t.tiled, e.tiled);
  EXPECT_EQ(t.planar_config, e.planar);
}

INSTANTIATE_TEST_SUITE_P(
    Fixtures, TiffFixture,
    ::testing::Values(Expected{"tiff/rgb8_none.tif", 8, 3, 2, 1, false, 1},
                      Expected{"tiff/rgb8_lzw.tif", 8, 3, 2, 5, false, 1},
                      Expected{"tiff/rgb8_deflate.tif", 8, 3, 2, 8, false, 1},
                      Expected{"tiff/rgb8_packbits.tif", 8, 3, 2, 32773, false, 1},
                      Expected{"tiff/rgb8_jpeg_ycbcr.tif", 8, 3, 6, 7, false, 1},
                      Expected{"tiff/rgb8_jpeg_rgb.tif", 8, 3, 2, 7, false, 1},
                      Expected{"tiff/rgb8_planar_lzw.tif", 8, 3, 2, 5, false, 2},
                      Expected{"tiff/rgb8_tiled_deflate.tif", 8, 3, 2, 8, true, 1},
                      Expected{"tiff/rgb8_tiled_jpeg.tif", 8, 3, 6, 7, true, 1},
                      Expected{"tiff/rgb16_none.tif", 16, 3, 2, 1, false, 1},
                      Expected{"tiff/rgb16_lzw.tif", 16, 3, 2, 5, false, 1},
                      Expected{"tiff/rgb16_bigendian_deflate.tif", 16, 3, 2, 8, false, 1},
                      Expected{"tiff/gray8_none.tif", 8, 1, 1, 1, false, 1},
                      Expected{"tiff/gray8_packbits.tif", 8, 1, 1, 32773, false, 1},
                      Expected{"tiff/gray16_none.tif", 16, 1, 1, 1, false, 1},
                      Expected{"tiff/gray16_tiled_lzw.tif", 16, 1, 1, 5, true, 1},
                      Expected{"tiff/graya8_deflate.tif", 8, 2, 1, 8, false, 1},
                      Expected{"tiff/rgba8_lzw.tif", 8, 4, 2, 5, false, 1},
                      Expected{"tiff/palette8_none.tif", 8, 1, 3, 1, false, 1},
                      Expected{"tiff/palette8_lzw.tif", 8, 1, 3, 5, false, 1},
                      Expected{"tiff/miniswhite8_none.tif", 8, 1, 0, 1, false, 1}));

TEST(TiffProbe, DetailsOfParticularFiles) {
  EXPECT_TRUE(probe_ok("tiff/rgb16_bigendian_deflate.tif").big_endian);
  EXPECT_FALSE(probe_ok("tiff/rgb16_lzw.tif").big_endian);
  EXPECT_EQ(probe_ok("tiff/multipage_3.tif").page_count, 3);
  EXPECT_EQ(probe_ok("tiff/rgb8_lzw.tif").page_count, 1);
  EXPECT_EQ(probe_ok("tiff/palette8_lzw.tif").colormap.size(), 768u);
  EXPECT_EQ(probe_ok("tiff/rgba8_lzw.tif").extra_samples, 1);
  EXPECT_EQ(tiff_output_channels(probe_ok("tiff/palette8_lzw.tif")), 3);
  EXPECT_EQ(tiff_output_channels(probe_ok("tiff/rgb8_jpeg_ycbcr.tif")), 3);
  EXPECT_EQ(tiff_output_channels(probe_ok("tiff/graya8_deflate.tif")), 2);
}

TEST(TiffProbe, RefusesWhatTheDecodersMustNotSee) {
  struct Case {
    const char* path;
    ErrorCode code;
    const char* message;
  };
  for (const Case& c : {Case{"malformed/compression_zstd.tif", ErrorCode::kUnsupportedCompression,
                             "TIFF compression ZSTD is not supported (none, LZW, Deflate, PackBits and JPEG are)"},
                        Case{"malformed/compression_webp.tif", ErrorCode::kUnsupportedCompression,
                             "TIFF compression WebP is not supported (none, LZW, Deflate, PackBits and JPEG are)"},
                        Case{"malformed/huge_dims.tif", ErrorCode::kTooLarge, "image 100000x100000 exceeds the 25000 px limit"},
                        Case{"malformed/truncated.tif", ErrorCode::kTruncated,
                             "truncated TIFF (the directory at byte 21340 lies past the end of the file (10774 bytes))"}}) {
    const std::vector<std::uint8_t> bytes = read_fixture(c.path);
    Result<TiffInfo> r = probe_tiff(bytes.data(), bytes.size());
    ASSERT_FALSE(r.ok()) << c.path;
    EXPECT_EQ(r.error().code, c.code) << c.path;
    EXPECT_EQ(r.error().message, c.message);
  }
}

TEST(TiffProbe, CompressionNames) {
  EXPECT_EQ(tiff_compression_name(50000), "ZSTD");
  EXPECT_EQ(tiff_compression_name(34927), "WebP");
  EXPECT_EQ(tiff_compression_name(7), "JPEG");
  EXPECT_EQ(tiff_compression_name(4242), "code 4242");
  EXPECT_FALSE(tiff_compression_supported(6));  // old-style JPEG
  EXPECT_TRUE(tiff_compression_supported(32946));
}

// Strips whose data lies past the end of the file are caught even when the directory survives:
// cut a file whose IFD comes first (libtiff writes it last, so rebuild the header by hand).
TEST(TiffProbe, StripPastTheEndIsTruncation) {
  // 4x2 gray, one uncompressed strip of 8 bytes declared at offset 200 in a 120-byte file.
  std::vector<std::uint8_t> f = {'I', 'I', 42, 0, 8, 0, 0, 0};
  auto u16 = [&](unsigned v) { f.push_back(v & 0xff); f.push_back(v >> 8); };
  auto u32 = [&](unsigned v) { u16(v & 0xffff); u16(v >> 16); };
  auto entry = [&](unsigned tag, unsigned type, unsigned value) {
    u16(tag); u16(type); u32(1);
    if (type == 3) { u16(value); u16(0); } else { u32(value); }
  };
  u16(8);
  entry(256, 3, 4); entry(257, 3, 2); entry(258, 3, 8); entry(259, 3, 1); entry(262, 3, 1);
  entry(273, 4, 200); entry(278, 3, 2); entry(279, 4, 8);
  u32(0);
  f.resize(120, 0);
  Result<TiffInfo> r = probe_tiff(f.data(), f.size());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kTruncated);
  EXPECT_EQ(r.error().message, "truncated TIFF (strip 0 ends at byte 208, the file has 120)");
  // Move the strip inside the file: now it is fine.
  f[8 + 2 + 5 * 12 + 8] = 100;
  EXPECT_TRUE(probe_tiff(f.data(), f.size()).ok());
}

TEST(TiffProbe, EveryPrefixIsRefusedWithoutACrash) {
  const std::vector<std::uint8_t> bytes = read_fixture("tiff/rgb8_tiled_deflate.tif");
  for (std::size_t n = 0; n + 1 < bytes.size(); n += 3) {
    Result<TiffInfo> r = probe_tiff(bytes.data(), n);
    if (r.ok()) ADD_FAILURE() << "prefix of " << n << " bytes accepted";
    else EXPECT_FALSE(r.error().message.empty());
  }
}

}  // namespace
}  // namespace cellcam
