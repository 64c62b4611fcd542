// file_io.cpp — see file_io.h.
#include "file_io.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "cellcam/limits.h"

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

Result<std::vector<std::uint8_t>> read_image_file(const std::string& path) {
  std::error_code ec;
  const std::uintmax_t size = std::filesystem::file_size(path, ec);
  if (!ec) {
    Result<bool> fits = check_file_size(static_cast<long long>(size));
    if (!fits) return fits.error();
  }
  return read_file(path);
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

namespace {

// Writes one temporary file and checks every step: a full disk (or a file-size limit) often shows only
// when the buffered bytes are flushed or the file is closed, so both are checked. On failure the
// temporary file is removed and the error names it.
Result<bool> write_temporary(const std::string& tmp, const void* data, std::size_t size) {
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) return io_error("cannot write", tmp);
  const bool written = std::fwrite(data, 1, size, f) == size && std::fflush(f) == 0;
  const int write_errno = errno;
  const bool closed = std::fclose(f) == 0;
  if (written && closed) return true;
  if (!written) errno = write_errno;
  Error e = io_error("cannot write", tmp);
  std::error_code ec;
  std::filesystem::remove(tmp, ec);
  return e;
}

}  // namespace

Result<bool> write_bytes_atomically(const std::string& path, const void* data, std::size_t size) {
  return write_files_atomically({{path, std::string_view(static_cast<const char*>(data), size)}});
}

Result<bool> write_files_atomically(const std::vector<std::pair<std::string, std::string_view>>& files) {
  std::error_code ec;
  for (std::size_t i = 0; i < files.size(); ++i) {
    Result<bool> written = write_temporary(files[i].first + ".tmp", files[i].second.data(), files[i].second.size());
    if (written) continue;
    for (std::size_t k = 0; k < i; ++k) std::filesystem::remove(files[k].first + ".tmp", ec);
    return written;
  }
  for (std::size_t i = 0; i < files.size(); ++i) {
    const std::string tmp = files[i].first + ".tmp";
    std::filesystem::rename(tmp, files[i].first, ec);
    if (!ec) continue;
    const std::string message = "cannot rename " + tmp + " to " + files[i].first + ": " + ec.message();
    for (std::size_t k = i; k < files.size(); ++k) std::filesystem::remove(files[k].first + ".tmp", ec);
    return make_error(ErrorCode::kIo, message);
  }
  return true;
}

Result<bool> write_text_atomically(const std::string& path, const std::string& text) {
  return write_bytes_atomically(path, text.data(), text.size());
}

Result<bool> check_output_folder(const std::string& folder, bool force, const std::vector<std::string>& markers,
                                 const std::string& kind, const std::string& hint) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(folder, ec)) return true;
  if (!fs::is_directory(folder, ec)) return make_error(ErrorCode::kIo, folder + " exists and is not a folder");
  if (fs::is_empty(folder, ec)) return true;
  bool ours = false;
  for (const std::string& m : markers) ours = ours || fs::exists(fs::path(folder) / m, ec);
  if (!ours)
    return make_error(ErrorCode::kInvalidArgument, folder + " is not empty and is not a " + kind +
                                                       ": choose a new or empty folder (nothing was written)");
  if (!force) return make_error(ErrorCode::kInvalidArgument, folder + " already holds a " + kind + ": " + hint);
  return true;
}

Result<bool> replace_folder(const std::string& staging, const std::string& target) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const std::string old = target + ".old";
  fs::remove_all(old, ec);
  const bool existed = fs::exists(target, ec);
  if (existed) {
    fs::rename(target, old, ec);
    if (ec) return make_error(ErrorCode::kIo, "cannot move " + target + " aside: " + ec.message());
  }
  fs::rename(staging, target, ec);
  if (ec) {
    const std::string message = "cannot rename " + staging + " to " + target + ": " + ec.message();
    if (existed) fs::rename(old, target, ec);
    return make_error(ErrorCode::kIo, message);
  }
  fs::remove_all(old, ec);
  return true;
}

std::string without_trailing_separators(const std::string& path) {
  std::string p = path;
  while (p.size() > 1 && (p.back() == '/' || p.back() == '\\')) p.pop_back();
  return p;
}

}  // namespace cellcam::native
