// image.cpp — Image allocation, limits, cropping and thumbnails.
#include "cellcam/image.h"

#include <cstring>
#include <new>
#include <string>

#include "stb_config.h"

namespace cellcam {

bool check_dimensions(long long width, long long height, const DecodeLimits& limits, Error* error) {
  if (width <= 0 || height <= 0) {
    *error = make_error(ErrorCode::kCorrupt, "image declares invalid dimensions " + std::to_string(width) + "x" +
                                                 std::to_string(height));
    return false;
  }
  const std::string dims = std::to_string(width) + "x" + std::to_string(height);
  if (width > limits.max_side || height > limits.max_side) {
    *error = make_error(ErrorCode::kTooLarge,
                        "image " + dims + " exceeds the " + std::to_string(limits.max_side) + " px limit");
    return false;
  }
  if (width * height > limits.max_pixels) {
    *error = make_error(ErrorCode::kTooLarge, "image " + dims + " (" + std::to_string(width * height / 1000000) +
                                                  " megapixels) exceeds the " +
                                                  std::to_string(limits.max_pixels / 1000000) + " megapixel limit");
    return false;
  }
  return true;
}

Result<Image> make_image(int width, int height, int channels, int bits, const DecodeLimits& limits) {
  Error error;
  if (!check_dimensions(width, height, limits, &error)) return error;
  if (channels < 1 || channels > 4)
    return make_error(ErrorCode::kUnsupportedLayout, std::to_string(channels) + " channels (1 to 4 are supported)");
  if (bits != 8 && bits != 16)
    return make_error(ErrorCode::kUnsupportedLayout, std::to_string(bits) + "-bit samples (8 and 16 are supported)");
  Image image;
  image.width = width;
  image.height = height;
  image.channels = channels;
  image.bits = bits;
  try {
    image.samples.assign(static_cast<std::size_t>(height) * image.row_bytes(), 0);
  } catch (const std::bad_alloc&) {
    return make_error(ErrorCode::kOutOfMemory, "out of memory for a " + std::to_string(width) + "x" +
                                                   std::to_string(height) + " image");
  }
  return image;
}

float Image::sample01(int x, int y, int c) const {
  const std::size_t i = (static_cast<std::size_t>(y) * width + x) * channels + c;
  if (bits == 8) return static_cast<float>(samples[i]) / 255.0f;
  std::uint16_t v;
  std::memcpy(&v, samples.data() + 2 * i, 2);
  return static_cast<float>(v) / 65535.0f;
}

Result<Image> crop_image(const Image& image, const Rect& rect) {
  if (rect.width <= 0 || rect.height <= 0 || rect.x < 0 || rect.y < 0 || rect.x + rect.width > image.width ||
      rect.y + rect.height > image.height)
    return make_error(ErrorCode::kInvalidArgument, "crop rectangle lies outside the image");
  Result<Image> out = make_image(rect.width, rect.height, image.channels, image.bits);
  if (!out) return out;
  Image& crop = out.value();
  const std::size_t px = image.channels * image.bytes_per_sample();
  for (int y = 0; y < rect.height; ++y)
    std::memcpy(crop.samples.data() + y * crop.row_bytes(),
                image.samples.data() + (static_cast<std::size_t>(rect.y + y) * image.width + rect.x) * px,
                crop.row_bytes());
  return out;
}

namespace {

// (H,W,4) 8-bit: gray replicated, 16-bit rounded, alpha 255 where the image has none.
std::vector<std::uint8_t> to_rgba8(const Image& image) {
  const std::size_t pixels = static_cast<std::size_t>(image.width) * image.height;
  std::vector<std::uint8_t> full(pixels * 4);
  if (image.bits == 8 && image.channels == 4) {
    std::memcpy(full.data(), image.samples.data(), full.size());
    return full;
  }
  if (image.bits == 8 && image.channels == 3) {  // the common case, without the general loop's branches
    const std::uint8_t* in = image.samples.data();
    std::uint8_t* out = full.data();
    for (std::size_t p = 0; p < pixels; ++p, in += 3, out += 4) {
      out[0] = in[0];
      out[1] = in[1];
      out[2] = in[2];
      out[3] = 255;
    }
    return full;
  }
  for (int y = 0; y < image.height; ++y) {
    for (int x = 0; x < image.width; ++x) {
      std::uint8_t rgba[4] = {0, 0, 0, 255};
      for (int c = 0; c < image.channels; ++c) {
        unsigned v;
        const std::size_t i = (static_cast<std::size_t>(y) * image.width + x) * image.channels + c;
        if (image.bits == 8) {
          v = image.samples[i];
        } else {
          std::uint16_t s;
          std::memcpy(&s, image.samples.data() + 2 * i, 2);
          v = (s * 255u + 32767u) / 65535u;
        }
        const bool alpha = image.has_alpha() && c == image.channels - 1;
        if (alpha) {
          rgba[3] = static_cast<std::uint8_t>(v);
        } else if (image.channels <= 2) {
          rgba[0] = rgba[1] = rgba[2] = static_cast<std::uint8_t>(v);
        } else if (c < 3) {
          rgba[c] = static_cast<std::uint8_t>(v);
        }
      }
      std::memcpy(&full[(static_cast<std::size_t>(y) * image.width + x) * 4], rgba, 4);
    }
  }
  return full;
}

}  // namespace

Result<Rgba8> render_thumbnail(const Image& image, int max_side) {
  if (max_side < 1) return make_error(ErrorCode::kInvalidArgument, "thumbnail size must be positive");
  if (image.width <= 0 || image.height <= 0 || image.samples.empty())
    return make_error(ErrorCode::kInvalidArgument, "empty image");
  // RGBA8 at full size first (rounded, not truncated, from 16-bit), then one stb resize.
  std::vector<std::uint8_t> full = to_rgba8(image);
  Rgba8 thumb;
  const int longer = image.width > image.height ? image.width : image.height;
  if (longer <= max_side) {
    thumb.width = image.width;
    thumb.height = image.height;
    thumb.pixels = std::move(full);
    return thumb;
  }
  thumb.width = static_cast<int>((static_cast<long long>(image.width) * max_side + longer / 2) / longer);
  thumb.height = static_cast<int>((static_cast<long long>(image.height) * max_side + longer / 2) / longer);
  if (thumb.width < 1) thumb.width = 1;
  if (thumb.height < 1) thumb.height = 1;
  thumb.pixels.resize(static_cast<std::size_t>(thumb.width) * thumb.height * 4);
  if (!stbir_resize_uint8_generic(full.data(), image.width, image.height, 0, thumb.pixels.data(), thumb.width,
                                  thumb.height, 0, 4, 3, 0, STBIR_EDGE_CLAMP, STBIR_FILTER_TRIANGLE,
                                  STBIR_COLORSPACE_LINEAR, nullptr))
    return make_error(ErrorCode::kOutOfMemory, "out of memory while resizing a thumbnail");
  return thumb;
}

}  // namespace cellcam
