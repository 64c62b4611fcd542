// dataset.cpp — see dataset.h. File-system errors come back through std::error_code: nothing here
// throws (std::bad_alloc aside), so a dataset with an unreadable folder is an error, not a crash.
#include "dataset.h"

#include "reviewed_set.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <system_error>
#include <utility>

namespace cellcam::data {
namespace fs = std::filesystem;

namespace {

// In preference order: when one id has several files, the first extension here wins.
constexpr const char* kImageExtensions[] = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tga", ".tif", ".tiff"};
constexpr int kNotAnImage = -1;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string trim(std::string_view s) {
  const auto space = [](char c) { return c == ' ' || c == '\t'; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return std::string(s);
}

// Position of the file's extension in kImageExtensions, or kNotAnImage.
int image_extension_rank(const fs::path& p) {
  const std::string ext = lower(p.extension().string());
  for (int i = 0; i < static_cast<int>(std::size(kImageExtensions)); ++i)
    if (ext == kImageExtensions[i]) return i;
  return kNotAnImage;
}

std::string extension_list() {
  std::string out;
  for (const char* e : kImageExtensions) out += (out.empty() ? "" : " ") + std::string(e);
  return out;
}

// .DS_Store, .ipynb_checkpoints, .git: never data. (torchvision would take a hidden folder as a class.)
bool is_hidden(const fs::path& p) {
  const std::string name = p.filename().string();
  return !name.empty() && name[0] == '.';
}

bool parse_int(const std::string& s, long long& out) {
  if (s.empty()) return false;
  const char* end = s.data() + s.size();
  auto [ptr, ec] = std::from_chars(s.data(), end, out);
  return ec == std::errc() && ptr == end;
}

// Header column named one of `names` (trimmed, any case), or -1.
int find_column(const std::vector<std::string>& header, std::initializer_list<const char*> names) {
  for (const char* name : names)
    for (std::size_t i = 0; i < header.size(); ++i)
      if (lower(trim(header[i])) == name) return static_cast<int>(i);
  return -1;
}

std::string join_fields(const std::vector<std::string>& fields) {
  std::string out;
  for (const std::string& f : fields) out += (out.empty() ? "" : ",") + f;
  return out;
}

// A usable row before the label becomes a class index.
struct Row {
  std::string path;
  std::string label;
  std::string group;
};

// Distinct labels, sorted numerically when every label is an integer (so "10" follows "9"), else by
// byte order. Both are the same on every platform.
std::vector<std::string> sorted_classes(const std::vector<Row>& rows) {
  std::vector<std::string> names;
  for (const Row& r : rows) names.push_back(r.label);
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  bool all_int = true;
  long long v = 0;
  for (const std::string& n : names) all_int = all_int && parse_int(n, v);
  if (all_int) {
    std::stable_sort(names.begin(), names.end(), [](const std::string& a, const std::string& b) {
      long long x = 0, y = 0;
      parse_int(a, x);
      parse_int(b, y);
      return x < y;
    });
  }
  return names;
}

Result<Dataset> finish(std::vector<Row> rows, std::vector<Skipped> skipped, bool has_groups, const std::string& source) {
  if (rows.empty()) {
    std::string msg = source + ": no usable rows";
    if (!skipped.empty())
      msg += " (" + std::to_string(skipped.size()) + " skipped; first: " + skipped.front().path + ": " +
             skipped.front().reason + ")";
    return make_error(ErrorCode::kInvalidArgument, msg);
  }
  Dataset ds;
  ds.classes = sorted_classes(rows);
  std::map<std::string, int> index;
  for (std::size_t i = 0; i < ds.classes.size(); ++i) index[ds.classes[i]] = static_cast<int>(i);
  ds.samples.reserve(rows.size());
  for (Row& r : rows) ds.samples.push_back(Sample{std::move(r.path), index[r.label], std::move(r.group)});
  ds.skipped = std::move(skipped);
  ds.has_groups = has_groups;
  return ds;
}

std::string line_prefix(int line) { return "line " + std::to_string(line) + ": "; }

}  // namespace

Result<std::vector<CsvRow>> parse_csv(std::string_view text, const std::string& name) {
  std::vector<CsvRow> rows;
  std::size_t i = 0;
  const std::size_t n = text.size();
  if (text.substr(0, 3) == "\xEF\xBB\xBF") i = 3;  // UTF-8 BOM, as Excel writes it
  int line = 1;
  while (i < n) {
    CsvRow row;
    row.line = line;
    bool any_quoted = false;
    for (;;) {  // one field per turn
      std::string field;
      if (text[i] == '"') {
        any_quoted = true;
        const int open_line = line;
        bool closed = false;
        for (++i; i < n; ++i) {
          if (text[i] == '"') {
            if (i + 1 < n && text[i + 1] == '"') {
              field += '"';
              ++i;
              continue;
            }
            ++i;
            closed = true;
            break;
          }
          if (text[i] == '\n') ++line;
          field += text[i];
        }
        if (!closed)
          return make_error(ErrorCode::kCorrupt,
                            name + ": " + line_prefix(open_line) + "a quoted field is never closed (missing \")");
      }
      // Text after a closing quote is kept, as Python's csv module does: "a"b reads as ab.
      while (i < n && text[i] != ',' && text[i] != '\n' && text[i] != '\r') field += text[i++];
      row.fields.push_back(std::move(field));
      if (i < n && text[i] == ',') {
        ++i;
        if (i < n) continue;
        row.fields.emplace_back();  // a trailing comma at the very end of the file: one more empty field
        break;
      }
      if (i < n) {  // end of line: LF, CRLF or a lone CR
        if (text[i] == '\r' && i + 1 < n && text[i + 1] == '\n') ++i;
        ++i;
        ++line;
      }
      break;
    }
    const bool blank = row.fields.size() == 1 && row.fields[0].empty() && !any_quoted;
    if (!blank) rows.push_back(std::move(row));
  }
  return rows;
}

Result<std::vector<CsvRow>> read_csv_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(ErrorCode::kIo, "cannot open " + path);
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return make_error(ErrorCode::kIo, "cannot read " + path);
  return parse_csv(text.str(), path);
}

Result<Dataset> load_image_folder(const std::string& root) {
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return make_error(ErrorCode::kIo, "not a folder: " + root);
  std::vector<std::string> classes;
  for (fs::directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code ec_entry;
    if (it->is_directory(ec_entry) && !is_hidden(it->path())) classes.push_back(it->path().filename().string());
  }
  if (ec) return make_error(ErrorCode::kIo, "cannot list " + root + ": " + ec.message());
  if (classes.empty())
    return make_error(ErrorCode::kInvalidArgument,
                      "no class folders in " + root + " (an ImageFolder dataset is <root>/<class>/<image>)");
  std::sort(classes.begin(), classes.end());

  Dataset ds;
  ds.classes = classes;
  for (std::size_t c = 0; c < classes.size(); ++c) {
    const fs::path dir = fs::path(root) / classes[c];
    std::vector<std::string> files;
    for (fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec), end;
         !ec && it != end; it.increment(ec)) {
      std::error_code ec_entry;
      if (is_hidden(it->path())) {
        if (it->is_directory(ec_entry)) it.disable_recursion_pending();
        continue;
      }
      if (it->is_regular_file(ec_entry) && image_extension_rank(it->path()) != kNotAnImage)
        files.push_back(it->path().string());
    }
    if (ec) return make_error(ErrorCode::kIo, "cannot list " + dir.string() + ": " + ec.message());
    std::sort(files.begin(), files.end());
    for (std::string& f : files) ds.samples.push_back(Sample{std::move(f), static_cast<int>(c), {}});
  }
  if (ds.samples.empty())
    return make_error(ErrorCode::kInvalidArgument, "no images in the " + std::to_string(classes.size()) +
                                                       " class folders of " + root + " (looked for " +
                                                       extension_list() + ")");
  return ds;
}

Result<Dataset> load_kaggle(const std::string& root) {
  const fs::path labels_path = fs::path(root) / "labels.csv";
  Result<std::vector<CsvRow>> csv = read_csv_file(labels_path.string());
  if (!csv) return csv.error();
  const std::vector<CsvRow>& rows = csv.value();
  if (rows.empty()) return make_error(ErrorCode::kInvalidArgument, labels_path.string() + " is empty");
  const int id_col = find_column(rows[0].fields, {"id"});
  const int label_col = find_column(rows[0].fields, {"label"});
  if (id_col < 0 || label_col < 0)
    return make_error(ErrorCode::kInvalidArgument, labels_path.string() + ": the first line must name the columns id and label (found \"" +
                                                       join_fields(rows[0].fields) + "\")");

  std::error_code ec;
  fs::path images = root;
  for (const char* sub : {"images", "train"})
    if (fs::is_directory(fs::path(root) / sub, ec)) {
      images = fs::path(root) / sub;
      break;
    }

  // One listing of the folder instead of a stat per id and extension: 8 extensions x 2 cases x
  // thousands of ids would be slow on network disks.
  std::map<std::string, std::pair<int, std::string>> by_stem;  // stem -> (extension rank, file name)
  std::map<std::string, bool> by_name;
  for (fs::directory_iterator it(images, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code ec_entry;
    const fs::path& p = it->path();
    const int rank = image_extension_rank(p);
    if (rank == kNotAnImage || is_hidden(p) || !it->is_regular_file(ec_entry)) continue;
    const std::string name = p.filename().string();
    by_name[name] = true;
    auto [slot, inserted] = by_stem.emplace(p.stem().string(), std::make_pair(rank, name));
    if (!inserted && std::make_pair(rank, name) < slot->second) slot->second = {rank, name};
  }
  if (ec) return make_error(ErrorCode::kIo, "cannot list " + images.string() + ": " + ec.message());

  std::vector<Row> out;
  std::vector<Skipped> skipped;
  std::map<std::string, int> seen;  // id -> line
  const std::size_t width = rows[0].fields.size();
  for (std::size_t r = 1; r < rows.size(); ++r) {
    const CsvRow& row = rows[r];
    if (row.fields.size() != width) {
      skipped.push_back({labels_path.string(), line_prefix(row.line) + "expected " + std::to_string(width) +
                                                   " fields, found " + std::to_string(row.fields.size())});
      continue;
    }
    const std::string id = trim(row.fields[id_col]);
    const std::string label = trim(row.fields[label_col]);
    if (id.empty() || label.empty()) {
      skipped.push_back({labels_path.string(), line_prefix(row.line) + (id.empty() ? "empty id" : "empty label")});
      continue;
    }
    auto [prev, first] = seen.emplace(id, row.line);
    if (!first) {
      skipped.push_back({(images / id).string(), line_prefix(row.line) + "id " + id + " repeats line " +
                                                     std::to_string(prev->second)});
      continue;
    }
    std::string file;
    if (auto s = by_stem.find(id); s != by_stem.end()) file = s->second.second;
    else if (by_name.count(id)) file = id;
    if (file.empty()) {
      skipped.push_back({(images / id).string(), "no image file for id " + id});
      continue;
    }
    out.push_back(Row{(images / file).string(), label, {}});
  }
  return finish(std::move(out), std::move(skipped), false, labels_path.string());
}

Result<Dataset> load_manifest(const std::string& csv_path) {
  Result<std::vector<CsvRow>> csv = read_csv_file(csv_path);
  if (!csv) return csv.error();
  const std::vector<CsvRow>& rows = csv.value();
  if (rows.empty()) return make_error(ErrorCode::kInvalidArgument, csv_path + " is empty");
  const int path_col = find_column(rows[0].fields, {"path"});
  const int label_col = find_column(rows[0].fields, {"label"});
  const int group_col = find_column(rows[0].fields, {"group", "patient"});
  if (path_col < 0 || label_col < 0)
    return make_error(ErrorCode::kInvalidArgument, csv_path + ": the first line must name the columns path and label (found \"" +
                                                       join_fields(rows[0].fields) + "\")");

  const fs::path base = fs::path(csv_path).parent_path();
  std::vector<Row> out;
  std::vector<Skipped> skipped;
  std::map<std::string, int> seen;  // path -> line
  const std::size_t width = rows[0].fields.size();
  for (std::size_t r = 1; r < rows.size(); ++r) {
    const CsvRow& row = rows[r];
    if (row.fields.size() != width) {
      skipped.push_back({csv_path, line_prefix(row.line) + "expected " + std::to_string(width) + " fields, found " +
                                       std::to_string(row.fields.size())});
      continue;
    }
    const std::string rel = trim(row.fields[path_col]);
    const std::string label = trim(row.fields[label_col]);
    if (rel.empty() || label.empty()) {
      skipped.push_back({csv_path, line_prefix(row.line) + (rel.empty() ? "empty path" : "empty label")});
      continue;
    }
    const std::string path = fs::path(rel).is_absolute() ? rel : (base / rel).string();
    auto [prev, first] = seen.emplace(path, row.line);
    if (!first) {
      skipped.push_back({path, line_prefix(row.line) + "same file as line " + std::to_string(prev->second)});
      continue;
    }
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) {
      skipped.push_back({path, line_prefix(row.line) + "file not found"});
      continue;
    }
    out.push_back(Row{path, label, group_col >= 0 ? trim(row.fields[group_col]) : std::string()});
  }
  return finish(std::move(out), std::move(skipped), group_col >= 0, csv_path);
}

Result<Dataset> load_dataset(const std::string& path) {
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (!fs::exists(st)) return make_error(ErrorCode::kIo, "no such file or folder: " + path);
  if (fs::is_regular_file(st)) {
    const std::string ext = lower(fs::path(path).extension().string());
    if (ext == ".csv") return load_manifest(path);
    if (ext == ".zip" || looks_like_zip(path)) return load_reviewed_set(path);  // the page's reviewed set
    return make_error(ErrorCode::kInvalidArgument,
                      path + " is neither a folder, a .csv manifest (path,label[,group]) nor a reviewed-set .zip");
  }
  if (!fs::is_directory(st)) return make_error(ErrorCode::kInvalidArgument, path + " is neither a folder nor a file");
  if (fs::is_regular_file(fs::path(path) / "review.json", ec) && fs::is_regular_file(fs::path(path) / "manifest.csv", ec))
    return load_reviewed_set(path);  // an unpacked reviewed set: its rows stay inside the folder
  if (fs::is_regular_file(fs::path(path) / "manifest.csv", ec)) return load_manifest((fs::path(path) / "manifest.csv").string());
  if (fs::is_regular_file(fs::path(path) / "labels.csv", ec)) return load_kaggle(path);
  return load_image_folder(path);
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos && (s.empty() || (s.front() != ' ' && s.back() != ' '))) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

}  // namespace cellcam::data
