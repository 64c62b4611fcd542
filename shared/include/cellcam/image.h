// image.h — the decoded image every decoder produces and every later stage consumes.
//
// Samples are interleaved (H,W,C), 1..4 channels (gray, gray+alpha, RGB, RGBA), 8 or 16 bits.
// 16-bit samples are stored as host-order uint16 in `samples` (2 bytes each). Palette and
// min-is-white data are normalised away before an Image exists (see pixels.h), so consumers
// only ever see the four channel layouts above.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "cellcam/error.h"
#include "cellcam/limits.h"

namespace cellcam {

struct DecodeLimits {
  // Checked on the dimensions a file *declares*, before any pixel memory is allocated.
  long long max_side = kMaxSide;
  long long max_pixels = kMaxPixels;
};

// False, with *error set ("image 40000x40000 exceeds the 25000 px limit"), when width x height is not
// positive or exceeds `limits`; true and *error untouched otherwise.
bool check_dimensions(long long width, long long height, const DecodeLimits& limits, Error* error);

struct Image {
  int width = 0;
  int height = 0;
  int channels = 0;  // 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA
  int bits = 8;      // 8 or 16
  std::vector<std::uint8_t> samples;  // (H,W,C), bits/8 bytes a sample, host byte order

  std::size_t bytes_per_sample() const { return static_cast<std::size_t>(bits / 8); }
  std::size_t row_bytes() const { return static_cast<std::size_t>(width) * channels * bytes_per_sample(); }
  bool has_alpha() const { return channels == 2 || channels == 4; }
  int color_channels() const { return channels >= 3 ? 3 : 1; }
  // Sample (x, y, c) scaled to [0, 1].
  float sample01(int x, int y, int c) const;
};

// Allocates an image of the given layout (zeroed), after validating it; limits apply.
Result<Image> make_image(int width, int height, int channels, int bits, const DecodeLimits& limits = {});

struct Rect {
  int x = 0;
  int y = 0;
  int width = 0;
  int height = 0;
};

// Copy of `rect` of `image`; the rect must lie inside the image.
Result<Image> crop_image(const Image& image, const Rect& rect);

// 8-bit RGBA rendering of the image scaled so its longer side is at most `max_side` (never enlarged);
// gray is replicated, missing alpha is 255, 16-bit is rounded to 8. For thumbnails in the CLI and page.
struct Rgba8 {
  int width = 0;
  int height = 0;
  std::vector<std::uint8_t> pixels;  // (H,W,4)
};
Result<Rgba8> render_thumbnail(const Image& image, int max_side);

}  // namespace cellcam
