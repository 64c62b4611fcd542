// reviewed_set.cpp — see reviewed_set.h. The ZIP is read with Debian's libzip (zip.h); nothing here
// throws (std::bad_alloc aside): file-system errors come back through std::error_code.
#include "reviewed_set.h"

#include <unistd.h>
#include <zip.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <vector>

#include "file_io.h"
#include "sha256.h"

namespace cellcam::data {
namespace fs = std::filesystem;

namespace {

constexpr const char* kStampName = ".cellcam-unpacked";
constexpr const char* kStampMagic = "cellcam-unpacked/1";

struct ZipCloser {
  void operator()(zip_t* z) const { zip_discard(z); }
};
using ZipHandle = std::unique_ptr<zip_t, ZipCloser>;
struct ZipFileCloser {
  void operator()(zip_file_t* f) const { zip_fclose(f); }
};
using ZipFileHandle = std::unique_ptr<zip_file_t, ZipFileCloser>;

std::string open_error(int code) {
  zip_error_t e;
  zip_error_init_with_code(&e, code);
  std::string text = zip_error_strerror(&e);
  zip_error_fini(&e);
  return text;
}

// An entry name is safe when it is relative, has no ".." component and no backslash (a Windows
// separator we would not split on), and no drive letter. Returns the reason, or "" when safe.
std::string unsafe_name(const std::string& name) {
  if (name.empty()) return "an empty name";
  if (name.front() == '/') return "an absolute path";
  if (name.find('\\') != std::string::npos) return "a backslash";
  if (name.size() >= 2 && name[1] == ':') return "a drive letter";
  std::size_t start = 0;
  while (start <= name.size()) {
    std::size_t slash = name.find('/', start);
    if (slash == std::string::npos) slash = name.size();
    if (name.compare(start, slash - start, "..") == 0 && slash - start == 2) return "a \"..\" component";
    start = slash + 1;
  }
  return "";
}

// Unix file type bits of an entry made on Unix (0 when unknown).
unsigned unix_type(zip_t* z, zip_uint64_t i) {
  zip_uint8_t opsys = 0;
  zip_uint32_t attributes = 0;
  if (zip_file_get_external_attributes(z, i, 0, &opsys, &attributes) != 0) return 0;
  if (opsys != ZIP_OPSYS_UNIX) return 0;
  return (attributes >> 16) & 0170000u;
}

struct Entry {
  zip_uint64_t index = 0;
  std::string name;
  zip_uint64_t size = 0;
  bool folder = false;
};

// Every entry checked before anything is written; the stamp key (names, sizes, CRCs) on the way.
Result<std::vector<Entry>> list_entries(zip_t* z, const std::string& zip_path, const ZipLimits& limits, std::string& key) {
  const zip_int64_t n = zip_get_num_entries(z, 0);
  if (n < 0) return make_error(ErrorCode::kCorrupt, zip_path + ": cannot list the archive (" + zip_strerror(z) + ")");
  if (n == 0) return make_error(ErrorCode::kInvalidArgument, zip_path + " is an empty ZIP archive");
  if (static_cast<zip_uint64_t>(n) > limits.max_entries)
    return make_error(ErrorCode::kInvalidArgument, zip_path + ": " + std::to_string(n) + " entries, more than the limit of " +
                                                       std::to_string(limits.max_entries) + " (refused)");
  std::vector<Entry> entries;
  std::set<std::string> names;
  std::uint64_t total = 0;
  std::string listing;
  for (zip_int64_t i = 0; i < n; ++i) {
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(z, static_cast<zip_uint64_t>(i), 0, &st) != 0 || !(st.valid & ZIP_STAT_NAME))
      return make_error(ErrorCode::kCorrupt, zip_path + ": entry " + std::to_string(i) + " cannot be read (" + zip_strerror(z) + ")");
    Entry e;
    e.index = static_cast<zip_uint64_t>(i);
    e.name = st.name;
    const std::string why = unsafe_name(e.name);
    if (!why.empty())
      return make_error(ErrorCode::kInvalidArgument, zip_path + ": entry \"" + e.name + "\" has " + why + " (refused: it could write outside the folder)");
    const unsigned type = unix_type(z, e.index);
    if (type == 0120000u)
      return make_error(ErrorCode::kInvalidArgument, zip_path + ": entry \"" + e.name + "\" is a symbolic link (refused)");
    if ((st.valid & ZIP_STAT_ENCRYPTION_METHOD) && st.encryption_method != ZIP_EM_NONE)
      return make_error(ErrorCode::kInvalidArgument, zip_path + ": entry \"" + e.name + "\" is encrypted (not supported)");
    e.folder = e.name.back() == '/';
    if (!e.folder && type != 0 && type != 0100000u)
      return make_error(ErrorCode::kInvalidArgument, zip_path + ": entry \"" + e.name + "\" is not a regular file (refused)");
    e.size = (st.valid & ZIP_STAT_SIZE) ? st.size : 0;
    if (e.size > limits.max_entry_bytes)
      return make_error(ErrorCode::kInvalidArgument, zip_path + ": entry \"" + e.name + "\" unpacks to " + std::to_string(e.size) +
                                                         " bytes, more than the limit of " + std::to_string(limits.max_entry_bytes) + " (refused)");
    total += e.size;
    if (total > limits.max_total_bytes)
      return make_error(ErrorCode::kInvalidArgument, zip_path + ": unpacks to more than " + std::to_string(limits.max_total_bytes) +
                                                         " bytes (the limit; refused as a possible zip bomb)");
    std::string normal = e.folder ? e.name.substr(0, e.name.size() - 1) : e.name;
    if (!names.insert(normal).second)
      return make_error(ErrorCode::kInvalidArgument, zip_path + ": entry \"" + e.name + "\" appears twice (refused)");
    if (normal == kStampName) return make_error(ErrorCode::kInvalidArgument, zip_path + ": entry \"" + e.name + "\" is a reserved name");
    listing += e.name + '\t' + std::to_string(e.size) + '\t' + std::to_string((st.valid & ZIP_STAT_CRC) ? st.crc : 0) + '\n';
    entries.push_back(std::move(e));
  }
  std::error_code ec;
  const auto bytes = fs::file_size(zip_path, ec);
  key = native::sha256_hex(std::to_string(ec ? 0 : bytes) + '\n' + listing);
  return entries;
}

// One entry inflated into `path`; the bytes are counted as they come (a header may understate them).
Result<bool> extract(zip_t* z, const Entry& e, const fs::path& path, const std::string& zip_path, const ZipLimits& limits,
                     std::uint64_t& total) {
  ZipFileHandle file(zip_fopen_index(z, e.index, 0));
  if (!file)
    return make_error(ErrorCode::kCorrupt, zip_path + ": entry \"" + e.name + "\" cannot be opened (" + zip_strerror(z) + ")");
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return make_error(ErrorCode::kIo, "cannot create " + path.string());
  std::vector<char> buffer(1 << 16);
  std::uint64_t written = 0;
  for (;;) {
    const zip_int64_t got = zip_fread(file.get(), buffer.data(), buffer.size());
    if (got < 0)
      return make_error(ErrorCode::kCorrupt, zip_path + ": entry \"" + e.name + "\" is damaged (" + zip_file_strerror(file.get()) + ")");
    if (got == 0) break;
    written += static_cast<std::uint64_t>(got);
    total += static_cast<std::uint64_t>(got);
    if (written > limits.max_entry_bytes || total > limits.max_total_bytes)
      return make_error(ErrorCode::kInvalidArgument, zip_path + ": entry \"" + e.name + "\" unpacks to more than the limit (refused as a possible zip bomb)");
    out.write(buffer.data(), got);
    if (!out) return make_error(ErrorCode::kIo, "cannot write " + path.string() + " (disk full?)");
  }
  out.close();
  if (!out) return make_error(ErrorCode::kIo, "cannot write " + path.string() + " (disk full?)");
  return true;
}

bool stamp_matches(const fs::path& folder, const std::string& key) {
  std::ifstream in(folder / kStampName);
  std::string magic, stored;
  return in && std::getline(in, magic) && std::getline(in, stored) && magic == kStampMagic && stored == key;
}

}  // namespace

bool looks_like_zip(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char sig[4] = {0, 0, 0, 0};
  if (!in.read(sig, 4)) return false;
  return sig[0] == 'P' && sig[1] == 'K' && ((sig[2] == 3 && sig[3] == 4) || (sig[2] == 5 && sig[3] == 6));
}

std::string unpacked_folder_for(const std::string& zip_path) {
  fs::path p(zip_path);
  std::string stem = p.filename().string();
  if (stem.size() > 4) {
    std::string ext = stem.substr(stem.size() - 4);
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (ext == ".zip") stem.resize(stem.size() - 4);
  }
  return (p.parent_path() / (stem + ".unpacked")).string();
}

Result<std::string> unpack_zip_into(const std::string& zip_path, const std::string& folder, const ZipLimits& limits) {
  std::error_code ec;
  if (!fs::is_regular_file(zip_path, ec)) return make_error(ErrorCode::kIo, "no such file: " + zip_path);
  int code = 0;
  ZipHandle z(zip_open(zip_path.c_str(), ZIP_RDONLY | ZIP_CHECKCONS, &code));
  if (!z) {
    const ErrorCode kind = code == ZIP_ER_OPEN || code == ZIP_ER_READ || code == ZIP_ER_MEMORY ? ErrorCode::kIo : ErrorCode::kCorrupt;
    return make_error(kind, zip_path + " is not a readable ZIP archive (" + open_error(code) + ")");
  }
  std::string key;
  Result<std::vector<Entry>> entries = list_entries(z.get(), zip_path, limits, key);
  if (!entries) return entries.error();

  const fs::path target(folder);
  if (fs::exists(target, ec)) {
    if (stamp_matches(target, key)) return target.string();  // unpacked before from these very entries
    if (!fs::exists(target / kStampName, ec))
      return make_error(ErrorCode::kInvalidArgument, target.string() + " exists and was not unpacked by cellcam: move it away "
                                                                       "(nothing was written)");
  }
  // Into a fresh temporary folder next to the target, then renamed: the target is whole or absent.
  const fs::path staging(target.string() + ".partial-" + std::to_string(::getpid()));
  fs::remove_all(staging, ec);
  fs::create_directories(staging, ec);
  if (ec) return make_error(ErrorCode::kIo, "cannot create " + staging.string() + ": " + ec.message());
  auto abandon = [&](const Error& e) -> Result<std::string> {
    std::error_code ignored;
    fs::remove_all(staging, ignored);
    return e;
  };
  std::uint64_t total = 0;
  for (const Entry& e : entries.value()) {
    const fs::path path = staging / e.name;
    fs::create_directories(e.folder ? path : path.parent_path(), ec);
    if (ec) return abandon(make_error(ErrorCode::kIo, "cannot create a folder for " + path.string() + ": " + ec.message()));
    if (e.folder) continue;
    Result<bool> done = extract(z.get(), e, path, zip_path, limits, total);
    if (!done) return abandon(done.error());
  }
  {
    std::ofstream stamp(staging / kStampName, std::ios::trunc);
    stamp << kStampMagic << '\n' << key << '\n';
    stamp.close();
    if (!stamp) return abandon(make_error(ErrorCode::kIo, "cannot write " + (staging / kStampName).string()));
  }
  // A stale unpacking of an older ZIP of the same name (it carries our stamp) is replaced.
  const fs::path old(target.string() + ".old-" + std::to_string(::getpid()));
  const bool replacing = fs::exists(target, ec);
  if (replacing) {
    fs::rename(target, old, ec);
    if (ec) return abandon(make_error(ErrorCode::kIo, "cannot move the old " + target.string() + " aside: " + ec.message()));
  }
  fs::rename(staging, target, ec);
  if (ec) {
    const std::string message = "cannot rename " + staging.string() + " to " + target.string() + ": " + ec.message();
    std::error_code ignored;
    if (replacing) fs::rename(old, target, ignored);
    return abandon(make_error(ErrorCode::kIo, message));
  }
  if (replacing) fs::remove_all(old, ec);
  return target.string();
}

Result<std::string> unpack_zip(const std::string& zip_path, const ZipLimits& limits) {
  return unpack_zip_into(zip_path, unpacked_folder_for(zip_path), limits);
}

Result<Dataset> load_reviewed_set(const std::string& zip_or_folder, const ZipLimits& limits) {
  std::error_code ec;
  std::string folder = zip_or_folder;
  if (fs::is_regular_file(zip_or_folder, ec)) {
    Result<std::string> unpacked = unpack_zip(zip_or_folder, limits);
    if (!unpacked) return unpacked.error();
    folder = unpacked.take();
  }
  const fs::path manifest = fs::path(folder) / "manifest.csv";
  if (!fs::is_regular_file(manifest, ec))
    return make_error(ErrorCode::kInvalidArgument, zip_or_folder + " is not a reviewed set: no manifest.csv at its root");
  const fs::path review = fs::path(folder) / "review.json";
  if (fs::is_regular_file(review, ec)) {
    Result<std::string> text = native::read_text(review.string());
    if (!text) return text.error();
    const nlohmann::json j = nlohmann::json::parse(text.value(), nullptr, false);
    if (j.is_discarded() || !j.is_object())
      return make_error(ErrorCode::kCorrupt, review.string() + " is not a JSON object");
    const std::string format = j.value("format", std::string());
    if (format != kReviewedSetFormat)
      return make_error(ErrorCode::kInvalidArgument, review.string() + ": format \"" + format + "\" is not " + kReviewedSetFormat +
                                                         " (written by a newer page?)");
  }
  Result<Dataset> loaded = load_manifest(manifest.string());
  if (!loaded) return loaded;
  // A row may name only a file inside the set: never an absolute path or one that climbs out.
  Dataset& ds = loaded.value();
  std::vector<Sample> kept;
  for (Sample& s : ds.samples) {
    const fs::path rel = fs::path(s.path).lexically_relative(fs::path(folder));
    const bool inside = !rel.empty() && rel.is_relative() && *rel.begin() != ".." && rel.string().find("/../") == std::string::npos;
    if (inside) kept.push_back(std::move(s));
    else ds.skipped.push_back({s.path, "the path leaves the reviewed set's folder (refused)"});
  }
  ds.samples = std::move(kept);
  if (ds.samples.empty())
    return make_error(ErrorCode::kInvalidArgument, manifest.string() + ": no usable rows" +
                                                       (ds.skipped.empty() ? "" : " (first skipped: " + ds.skipped.front().path + ": " +
                                                                                      ds.skipped.front().reason + ")"));
  return loaded;
}

}  // namespace cellcam::data
