// test_tiff_probe.cpp — the TIFF structure reader both builds run before any TIFF decoder.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <utility>

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


// ---- LZW: the stream check probe_tiff() runs over every LZW strip or tile

// Four files a page fuzzer damaged (seed 777): utif2 looped on each until the page's 20 s timeout;
// libtiff says "Using code not yet in table". Now probe_tiff() refuses them in both builds.
TEST(TiffProbe, DamagedLzwStreamsAreRefused) {
  struct Case {
    const char* path;
    const char* message;
  };
  for (const Case& c : {Case{"malformed/lzw_palette8_code_not_in_table.tif",
                             "corrupt TIFF (LZW strip 0: code 403 at byte 58 not yet in table)"},
                        Case{"malformed/lzw_pal2rgb_code_not_in_table.tif",
                             "corrupt TIFF (LZW strip 0: code 267 at byte 10 not yet in table)"},
                        Case{"malformed/lzw_rgb8_code_not_in_table.tif",
                             "corrupt TIFF (LZW strip 0: code 435 at byte 193 not yet in table)"},
                        Case{"malformed/lzw_rgba8_code_not_in_table.tif",
                             "corrupt TIFF (LZW strip 0: code 261 at byte 5 not yet in table)"}}) {
    const std::vector<std::uint8_t> bytes = read_fixture(c.path);
    Result<TiffInfo> r = probe_tiff(bytes.data(), bytes.size());
    ASSERT_FALSE(r.ok()) << c.path;
    EXPECT_EQ(r.error().code, ErrorCode::kCorrupt) << c.path;
    EXPECT_EQ(r.error().message, c.message);
  }
}

// A plain LZW encoder for the tests. TIFF's codes (most significant bit first, the width growing one
// code early) or old-style ones (least significant bit first, no early change). Options break it on purpose.
struct LzwOptions {
  bool old_style = false;
  bool leading_clear = true;
  bool clear_when_full = true;  // false: keep emitting codes once the table is full, as no encoder should
  bool eoi = true;
};

std::vector<std::uint8_t> lzw_encode(const std::vector<std::uint8_t>& in, const LzwOptions& o = {}) {
  std::vector<std::uint8_t> out;
  std::uint64_t acc = 0;
  int held = 0, bits = 9, next = 258;
  auto put = [&](int code) {
    if (o.old_style) {
      acc |= static_cast<std::uint64_t>(code) << held;
      held += bits;
      for (; held >= 8; held -= 8, acc >>= 8) out.push_back(static_cast<std::uint8_t>(acc));
    } else {
      acc = acc << bits | static_cast<std::uint64_t>(code);
      held += bits;
      for (; held >= 8; held -= 8) out.push_back(static_cast<std::uint8_t>(acc >> (held - 8)));
    }
  };
  // After each emitted code the encoder's table grows by one; the decoder's, one code later.
  auto grow = [&]() {
    if (next < 4096) ++next;
    if (o.clear_when_full && next == 4094) {
      put(256);
      bits = 9;
      next = 258;
      return true;
    }
    if (bits < 12 && next > (1 << bits) - (o.old_style ? 0 : 1)) ++bits;
    return false;
  };
  std::map<std::pair<int, int>, int> table;
  if (o.leading_clear) put(256);
  int ent = -1;
  for (std::uint8_t c : in) {
    if (ent < 0) { ent = c; continue; }
    auto it = table.find({ent, c});
    if (it != table.end()) { ent = it->second; continue; }
    put(ent);
    if (next < 4096) table[{ent, c}] = next;
    if (grow()) table.clear();
    ent = c;
  }
  if (ent >= 0) {
    put(ent);
    grow();
  }
  if (o.eoi) put(257);
  if (held > 0) out.push_back(static_cast<std::uint8_t>(o.old_style ? acc : acc << (8 - held)));
  return out;
}

std::vector<std::uint8_t> noise(std::size_t n, unsigned seed, int levels = 256) {
  std::mt19937 rng(seed);
  std::vector<std::uint8_t> v(n);
  for (auto& b : v) b = static_cast<std::uint8_t>(rng() % levels);
  return v;
}

TiffLzwCheck check(const std::vector<std::uint8_t>& stream, std::uint64_t expected, bool old_style = false) {
  return check_tiff_lzw_chunk(stream.data(), stream.size(), expected, old_style, false);
}

// A W x H 8-bit gray TIFF by hand, its one strip LZW-compressed: `stream`, FillOrder `fill_order`.
std::vector<std::uint8_t> one_strip_lzw_tiff(int w, int h, const std::vector<std::uint8_t>& stream, int fill_order = 1) {
  std::vector<std::uint8_t> f = {'I', 'I', 42, 0, 8, 0, 0, 0};
  auto u16 = [&](unsigned v) { f.push_back(v & 0xff); f.push_back(v >> 8); };
  auto u32 = [&](unsigned v) { u16(v & 0xffff); u16(v >> 16); };
  auto entry = [&](unsigned tag, unsigned type, unsigned value) {
    u16(tag); u16(type); u32(1);
    if (type == 3) { u16(value); u16(0); } else { u32(value); }
  };
  const unsigned strip_at = 8 + 2 + 10 * 12 + 4;
  u16(10);
  entry(256, 3, w); entry(257, 3, h); entry(258, 3, 8); entry(259, 3, 5); entry(262, 3, 1);
  entry(266, 3, fill_order); entry(273, 4, strip_at); entry(277, 3, 1); entry(278, 3, h);
  entry(279, 4, static_cast<unsigned>(stream.size()));
  u32(0);
  f.insert(f.end(), stream.begin(), stream.end());
  return f;
}

std::vector<std::uint8_t> reverse_bits(std::vector<std::uint8_t> v) {
  for (auto& b : v) {
    std::uint8_t r = 0;
    for (int i = 0; i < 8; ++i) r |= static_cast<std::uint8_t>(((b >> i) & 1) << (7 - i));
    b = r;
  }
  return v;
}

TEST(TiffLzw, WellFormedStreamsPass) {
  for (int levels : {2, 16, 256}) {
    const std::vector<std::uint8_t> data = noise(20000, 7, levels);  // 2 levels: long strings and KwKwK codes
    for (bool old_style : {false, true}) {
      const std::vector<std::uint8_t> z = lzw_encode(data, LzwOptions{old_style});
      EXPECT_EQ(tiff_lzw_is_old_style(z.data(), z.size(), false), old_style);
      const TiffLzwCheck c = check(z, data.size(), old_style);
      EXPECT_TRUE(c.ok) << levels << " levels, old style " << old_style << ": " << c.problem;
      EXPECT_EQ(c.decoded, data.size());
      EXPECT_TRUE(check(z, 100, old_style).ok);  // stops at what the strip needs
      EXPECT_TRUE(check(z, 0, old_style).ok);
    }
  }
  std::vector<std::uint8_t> aaaa = lzw_encode(std::vector<std::uint8_t>(50, 'a'));  // codes 258, 259, ... as they are made
  EXPECT_TRUE(check(aaaa, 50).ok);
}

TEST(TiffLzw, FillOrderTwoIsReadBitReversed) {
  const std::vector<std::uint8_t> data = noise(5000, 3, 16);
  const std::vector<std::uint8_t> z = reverse_bits(lzw_encode(data));
  EXPECT_TRUE(check_tiff_lzw_chunk(z.data(), z.size(), data.size(), false, true).ok);
  EXPECT_FALSE(check_tiff_lzw_chunk(z.data(), z.size(), data.size(), false, false).ok);
}

TEST(TiffLzw, ShortStreamsAreRefused) {
  const std::vector<std::uint8_t> data = noise(3000, 5, 16);
  const std::vector<std::uint8_t> z = lzw_encode(data);
  TiffLzwCheck c = check(z, data.size() + 1);  // EOI one byte early
  EXPECT_FALSE(c.ok);
  EXPECT_FALSE(c.truncated);
  EXPECT_EQ(c.problem, "EOI code after 3000 of 3001 bytes");
  LzwOptions no_eoi;
  no_eoi.eoi = false;
  const std::vector<std::uint8_t> cut = lzw_encode(data, no_eoi);
  c = check(cut, data.size() + 10);
  EXPECT_FALSE(c.ok);
  EXPECT_TRUE(c.truncated);
  EXPECT_EQ(c.problem, "data end after 3000 of 3010 bytes, without an EOI code");
  EXPECT_TRUE(check(cut, data.size()).ok);  // libtiff does not need the EOI once the strip is full
  c = check_tiff_lzw_chunk(z.data(), 0, 10, false, false);
  EXPECT_TRUE(c.truncated);
}

TEST(TiffLzw, BrokenTablesAreRefused) {
  const std::vector<std::uint8_t> data = noise(20000, 9);
  LzwOptions no_clear;
  no_clear.leading_clear = false;
  std::vector<std::uint8_t> z = lzw_encode(data, no_clear);
  EXPECT_EQ(check(z, data.size()).problem, "does not start with a Clear code");

  // Keep coding once the table is full: libtiff takes 4095 + 1024 - 258 entries, then only Clear or EOI.
  LzwOptions overfull;
  overfull.clear_when_full = false;
  z = lzw_encode(data, overfull);
  TiffLzwCheck c = check(z, data.size());
  EXPECT_FALSE(c.ok);
  EXPECT_NE(c.problem.find("after the code table filled, without a Clear code"), std::string::npos) << c.problem;

  // The first code after Clear (bits 9..17) names code 300: nothing but single bytes is in the table yet.
  z = lzw_encode(data);
  z[1] = static_cast<std::uint8_t>((z[1] & 0x80) | (300 >> 2));
  z[2] = static_cast<std::uint8_t>((z[2] & 0x3f) | ((300 & 3) << 6));
  c = check(z, data.size());
  EXPECT_FALSE(c.ok);
  EXPECT_FALSE(c.truncated);
  EXPECT_EQ(c.problem, "code 300 at byte 1 not yet in table");
}

TEST(TiffLzw, ProbeWalksTheStripsOfAFile) {
  const std::vector<std::uint8_t> data = noise(200 * 50, 11, 16);
  const std::vector<std::uint8_t> z = lzw_encode(data);
  std::vector<std::uint8_t> f = one_strip_lzw_tiff(200, 50, z);
  EXPECT_TRUE(probe_tiff(f.data(), f.size()).ok());
  f = one_strip_lzw_tiff(200, 50, reverse_bits(z), 2);  // FillOrder 2: libtiff reverses the bits first
  EXPECT_TRUE(probe_tiff(f.data(), f.size()).ok());
  f = one_strip_lzw_tiff(200, 51, z);  // one row more than the stream holds
  Result<TiffInfo> r = probe_tiff(f.data(), f.size());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kCorrupt);
  EXPECT_EQ(r.error().message, "corrupt TIFF (LZW strip 0: EOI code after 10000 of 10200 bytes)");
  f = one_strip_lzw_tiff(200, 50, std::vector<std::uint8_t>(z.begin(), z.begin() + z.size() / 2));
  r = probe_tiff(f.data(), f.size());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kTruncated);
  EXPECT_EQ(r.error().message.rfind("truncated TIFF (LZW strip 0: data end after ", 0), 0u) << r.error().message;
}

// libtiff reads old-style (pre-1991, bit-reversed) LZW; utif2 turns it into other pixels without an
// error. So both builds refuse it, by name.
TEST(TiffLzw, OldStyleLzwIsRefusedAsUnsupported) {
  const std::vector<std::uint8_t> data = noise(200 * 50, 12, 16);
  const std::vector<std::uint8_t> f = one_strip_lzw_tiff(200, 50, lzw_encode(data, LzwOptions{true}));
  Result<TiffInfo> r = probe_tiff(f.data(), f.size());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kUnsupportedCompression);
  EXPECT_EQ(r.error().message,
            "TIFF compression old-style LZW (bit-reversed codes, libtiff before 1991) is not supported (none, LZW, "
            "Deflate, PackBits and JPEG are)");
}

// Any damage to an LZW file is either harmless to the walk or refused with a message; never a crash
// (every byte of every strip, one at a time, in rgb8_lzw.tif).
TEST(TiffLzw, EveryDamagedByteIsHandled) {
  const std::vector<std::uint8_t> bytes = read_fixture("tiff/rgb8_lzw.tif");
  const TiffInfo info = probe_ok("tiff/rgb8_lzw.tif");
  int refused = 0;
  for (std::size_t k = 0; k < info.chunk_offsets.size(); ++k)
    for (std::uint64_t i = info.chunk_offsets[k]; i < info.chunk_offsets[k] + info.chunk_byte_counts[k]; i += 7) {
      std::vector<std::uint8_t> damaged = bytes;
      damaged[i] ^= 0xa5;
      Result<TiffInfo> r = probe_tiff(damaged.data(), damaged.size());
      if (!r.ok()) {
        ++refused;
        EXPECT_EQ(r.error().message.rfind("corrupt TIFF (LZW strip ", 0) == 0 ||
                      r.error().message.rfind("truncated TIFF (LZW strip ", 0) == 0, true) << r.error().message;
      }
    }
  EXPECT_GT(refused, 0);
}

}  // namespace
}  // namespace cellcam
