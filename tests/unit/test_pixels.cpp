// test_pixels.cpp — image_from_pixels(): the door through which TIFF pixels (libtiff or utif2) enter.
#include <gtest/gtest.h>

#include <cstring>

#include "cellcam/pixels.h"

namespace cellcam {
namespace {

TEST(Pixels, DirectSamplesAreCopied) {
  const std::vector<std::uint8_t> rgb = {1, 2, 3, 4, 5, 6};
  PixelBuffer p{2, 1, 3, 8, PixelLayout::kDirect, rgb.data(), rgb.size()};
  Result<Image> r = image_from_pixels(p);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r.value().samples, rgb);
  EXPECT_EQ(r.value().channels, 3);
}

TEST(Pixels, MinIsWhiteInvertsGrayButNotAlpha) {
  const std::vector<std::uint8_t> ga = {0, 10, 255, 20};
  PixelBuffer p{2, 1, 2, 8, PixelLayout::kMinIsWhite, ga.data(), ga.size()};
  Result<Image> r = image_from_pixels(p);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value().samples, (std::vector<std::uint8_t>{255, 10, 0, 20}));

  const std::vector<std::uint16_t> g16 = {0, 1000};
  PixelBuffer p16{2, 1, 1, 16, PixelLayout::kMinIsWhite, g16.data(), 4};
  Result<Image> r16 = image_from_pixels(p16);
  ASSERT_TRUE(r16.ok());
  std::uint16_t out[2];
  std::memcpy(out, r16.value().samples.data(), 4);
  EXPECT_EQ(out[0], 65535);
  EXPECT_EQ(out[1], 64535);
}

TEST(Pixels, PaletteExpandsThroughTheHighByteOfTheColourMap) {
  // Two entries: index 0 = (0x1234, 0x5678, 0x9abc), index 1 = (0xffff, 0, 0x8000).
  const std::vector<std::uint16_t> cmap = {0x1234, 0xffff, 0x5678, 0x0000, 0x9abc, 0x8000};
  const std::vector<std::uint8_t> idx = {1, 0, 1};
  PixelBuffer p{3, 1, 1, 8, PixelLayout::kPalette, idx.data(), idx.size(), cmap.data(), cmap.size()};
  Result<Image> r = image_from_pixels(p);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r.value().channels, 3);
  EXPECT_EQ(r.value().samples, (std::vector<std::uint8_t>{0xff, 0x00, 0x80, 0x12, 0x56, 0x9a, 0xff, 0x00, 0x80}));

  const std::vector<std::uint8_t> bad = {2};
  PixelBuffer out_of_range{1, 1, 1, 8, PixelLayout::kPalette, bad.data(), 1, cmap.data(), cmap.size()};
  Result<Image> e = image_from_pixels(out_of_range);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.error().message, "palette index 2 outside a colour map of 2 entries");
}

TEST(Pixels, InconsistentBuffersAreRefused) {
  const std::vector<std::uint8_t> five(5);
  PixelBuffer p{2, 1, 3, 8, PixelLayout::kDirect, five.data(), five.size()};
  Result<Image> r = image_from_pixels(p);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.error().message, "pixel buffer holds 5 bytes, 2x1x3 at 8 bits needs 6");

  PixelBuffer twelve_bit{2, 1, 3, 12, PixelLayout::kDirect, five.data(), five.size()};
  r = image_from_pixels(twelve_bit);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kUnsupportedLayout);

  PixelBuffer five_channels{1, 1, 5, 8, PixelLayout::kDirect, five.data(), five.size()};
  EXPECT_EQ(image_from_pixels(five_channels).error().code, ErrorCode::kUnsupportedLayout);

  PixelBuffer null_data{1, 1, 1, 8, PixelLayout::kDirect, nullptr, 1};
  EXPECT_EQ(image_from_pixels(null_data).error().code, ErrorCode::kInvalidArgument);
}

TEST(Pixels, LimitsApplyBeforeAllocation) {
  const std::vector<std::uint8_t> one(1);
  PixelBuffer p{30000, 30000, 1, 8, PixelLayout::kDirect, one.data(), one.size()};
  Result<Image> r = image_from_pixels(p);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kTooLarge);
  EXPECT_EQ(r.error().message, "image 30000x30000 exceeds the 25000 px limit");
}

}  // namespace
}  // namespace cellcam
