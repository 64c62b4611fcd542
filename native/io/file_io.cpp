// file_io.cpp — see file_io.h.
#include "file_io.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace cellcam::native {
namespace {

Error io_error(const std::string& what, const std::string& path) {
  return make_error(ErrorCode::kIo, what + " " + path + ": " + std::strerror(errno));
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

Result<std::string> read_text(const std::string& path) {
  Result<std::vector<std::uint8_t>> bytes = read_file(path);
  if (!bytes) return bytes.error();
  return std::string(bytes.value().begin(), bytes.value().end());
}

Result<nlohmann::json> read_json_object(const std::string& path) {
  Result<std::vector<std::uint8_t>> bytes = read_file(path);
  if (!bytes) return bytes.error();
  nlohmann::json j = nlohmann::json::parse(bytes.value().begin(), bytes.value().end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return make_error(ErrorCode::kCorrupt, path + " is not a JSON object");
  return j;
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
  if (ec) {
    const std::string message = "cannot rename " + tmp + " to " + path + ": " + ec.message();
    std::filesystem::remove(tmp, ec);
    return make_error(ErrorCode::kIo, message);
  }
  return true;
}

Result<bool> write_text_atomically(const std::string& path, const std::string& text) {
  return write_bytes_atomically(path, text.data(), text.size());
}

}  // namespace cellcam::native
