// png_writer.cpp — see png_writer.h.
#include "png_writer.h"

#include "file_io.h"

// stb_image_write is not written for -Wall -Wextra.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBI_WRITE_NO_STDIO
#include <stb/stb_image_write.h>
#pragma GCC diagnostic pop

namespace cellcam::native {

Result<std::vector<std::uint8_t>> encode_png(int width, int height, int channels, const std::uint8_t* samples, int stride) {
  std::vector<std::uint8_t> png;
  auto sink = [](void* ctx, void* data, int size) {
    auto* out = static_cast<std::vector<std::uint8_t>*>(ctx);
    out->insert(out->end(), static_cast<std::uint8_t*>(data), static_cast<std::uint8_t*>(data) + size);
  };
  if (!stbi_write_png_to_func(sink, &png, width, height, channels, samples, stride))
    return make_error(ErrorCode::kInternal, "PNG encoder failed");
  return png;
}

Result<bool> write_png(const std::string& path, int width, int height, int channels, const std::uint8_t* samples, int stride) {
  Result<std::vector<std::uint8_t>> png = encode_png(width, height, channels, samples, stride);
  if (!png) return make_error(png.error().code, png.error().message + " for " + path);
  return write_bytes_atomically(path, png.value().data(), png.value().size());
}

Result<bool> write_png(const std::string& path, const Image& image) {
  if (image.bits != 8 || image.channels < 1 || image.channels > 4)
    return make_error(ErrorCode::kInvalidArgument, "write_png takes 8-bit images with 1 to 4 channels");
  return write_png(path, image.width, image.height, image.channels, image.samples.data(), static_cast<int>(image.row_bytes()));
}

Result<bool> write_png(const std::string& path, const Rgba8& image) {
  return write_png(path, image.width, image.height, 4, image.pixels.data(), image.width * 4);
}

}  // namespace cellcam::native
