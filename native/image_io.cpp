// image_io.cpp — see image_io.h.
#include "image_io.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tiff_decode.h"

#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBI_WRITE_NO_STDIO
#include <stb/stb_image_write.h>

namespace cellcam::native {
namespace {

Error io_error(const std::string& what, const std::string& path) {
  return make_error(ErrorCode::kIo, what + " " + path + ": " + std::strerror(errno));
}

// Writes through `path + ".tmp"` and renames, so a reader never sees half a file.
Result<bool> write_bytes_atomically(const std::string& path, const void* data, std::size_t size) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return io_error("cannot write", tmp);
    out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
    if (!out) return io_error("cannot write", tmp);
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return make_error(ErrorCode::kIo, "cannot rename " + tmp + " to " + path + ": " + ec.message());
  return true;
}

}  // namespace

Result<std::vector<std::uint8_t>> read_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return make_error(ErrorCode::kIo, path + " is a folder, not a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) return io_error("cannot open", path);
  std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return io_error("cannot read", path);
  return bytes;
}

std::vector<std::string> collect_image_files(const std::vector<std::string>& inputs) {
  auto is_image = [](const std::filesystem::path& p) {
    std::string ext = p.extension().string();
    for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp" || ext == ".gif" || ext == ".tga" ||
           ext == ".tif" || ext == ".tiff";
  };
  std::vector<std::string> files;
  for (const std::string& in : inputs) {
    std::error_code ec;
    if (!std::filesystem::is_directory(in, ec)) {
      files.push_back(in);
      continue;
    }
    std::vector<std::string> found;
    for (auto it = std::filesystem::recursive_directory_iterator(in, std::filesystem::directory_options::skip_permission_denied, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec))
      if (it->is_regular_file(ec) && is_image(it->path())) found.push_back(it->path().string());
    std::sort(found.begin(), found.end());
    files.insert(files.end(), found.begin(), found.end());
  }
  return files;
}

Result<Image> decode_any(const std::uint8_t* bytes, std::size_t size, const DecodeLimits& limits) {
  if (sniff_format(bytes, size) == ImageFormat::kTiff) return decode_tiff(bytes, size, limits);
  return decode_image(bytes, size, limits);
}

Result<bool> write_npy(const std::string& path, const std::vector<int>& shape, const float* data, std::size_t count) {
  std::ostringstream header;
  header << "{'descr': '<f4', 'fortran_order': False, 'shape': (";
  for (std::size_t i = 0; i < shape.size(); ++i) header << shape[i] << (shape.size() == 1 || i + 1 < shape.size() ? ", " : "");
  header << "), }";
  std::string h = header.str();
  // magic(6) + version(2) + header length(2) + header, padded with spaces to a multiple of 64, ending in \n.
  const std::size_t unpadded = 10 + h.size() + 1;
  h.append((64 - unpadded % 64) % 64, ' ');
  h += '\n';
  std::string bytes("\x93NUMPY\x01\x00", 8);
  bytes += static_cast<char>(h.size() & 0xff);
  bytes += static_cast<char>(h.size() >> 8);
  bytes += h;
  static_assert(sizeof(float) == 4, "float32");
  const std::uint16_t probe = 1;
  if (*reinterpret_cast<const std::uint8_t*>(&probe) != 1)
    return make_error(ErrorCode::kInternal, ".npy writer assumes a little-endian host");
  bytes.append(reinterpret_cast<const char*>(data), count * sizeof(float));
  return write_bytes_atomically(path, bytes.data(), bytes.size());
}

Result<bool> write_npy(const std::string& path, const Tensor& t) {
  return write_npy(path, {t.channels, t.height, t.width}, t.data.data(), t.data.size());
}

namespace {

// Interleaved 8-bit samples, `channels` per pixel, `stride` bytes a row -> a PNG file, atomically.
Result<bool> encode_png_file(const std::string& path, int width, int height, int channels, const std::uint8_t* samples,
                             int stride) {
  std::vector<std::uint8_t> png;
  auto sink = [](void* ctx, void* data, int size) {
    auto* out = static_cast<std::vector<std::uint8_t>*>(ctx);
    out->insert(out->end(), static_cast<std::uint8_t*>(data), static_cast<std::uint8_t*>(data) + size);
  };
  if (!stbi_write_png_to_func(sink, &png, width, height, channels, samples, stride))
    return make_error(ErrorCode::kInternal, "PNG encoder failed for " + path);
  return write_bytes_atomically(path, png.data(), png.size());
}

}  // namespace

Result<bool> write_png(const std::string& path, const Image& image) {
  if (image.bits != 8 || image.channels < 1 || image.channels > 4)
    return make_error(ErrorCode::kInvalidArgument, "write_png takes 8-bit images with 1 to 4 channels");
  return encode_png_file(path, image.width, image.height, image.channels, image.samples.data(), static_cast<int>(image.row_bytes()));
}

Result<bool> write_png(const std::string& path, const Rgba8& image) {
  return encode_png_file(path, image.width, image.height, 4, image.pixels.data(), image.width * 4);
}

Result<nlohmann::json> read_json_object(const std::string& path) {
  Result<std::vector<std::uint8_t>> bytes = read_file(path);
  if (!bytes) return bytes.error();
  nlohmann::json j = nlohmann::json::parse(bytes.value().begin(), bytes.value().end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return make_error(ErrorCode::kCorrupt, path + " is not a JSON object");
  return j;
}

Result<bool> write_text_atomically(const std::string& path, const std::string& text) {
  return write_bytes_atomically(path, text.data(), text.size());
}

}  // namespace cellcam::native
