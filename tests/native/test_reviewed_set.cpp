// test_reviewed_set.cpp — the page's reviewed-set ZIP as a dataset (reviewed_set.h): a good ZIP loads
// through load_dataset (extra manifest columns, empty groups), is unpacked once and reused, and is
// unpacked again when it changes; hostile or damaged archives are refused with one line and leave
// nothing behind: "../x"-style and absolute entries, a symbolic link, a truncated file, flipped bytes in the
// compressed data, and the entry-count and size limits (a zip bomb). The ZIPs are made here with libzip.
#include <gtest/gtest.h>
#include <zip.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "dataset.h"
#include "reviewed_set.h"
#include "split.h"

namespace fs = std::filesystem;
using namespace cellcam;
using namespace cellcam::data;

namespace {

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

struct ZipEntry {
  std::string name;
  std::string bytes;
  bool symlink = false;
};

// A ZIP of `entries` (deflated), written with libzip.
void make_zip(const fs::path& path, const std::vector<ZipEntry>& entries) {
  int err = 0;
  zip_t* z = zip_open(path.string().c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
  ASSERT_NE(z, nullptr) << "zip_open " << err;
  for (const ZipEntry& e : entries) {
    if (!e.name.empty() && e.name.back() == '/') {
      ASSERT_GE(zip_dir_add(z, e.name.substr(0, e.name.size() - 1).c_str(), ZIP_FL_ENC_UTF_8), 0);
      continue;
    }
    // libzip copies the buffer at zip_close: keep it alive until then (freep = 0, held by `entries`).
    zip_source_t* src = zip_source_buffer(z, e.bytes.data(), e.bytes.size(), 0);
    ASSERT_NE(src, nullptr);
    const zip_int64_t index = zip_file_add(z, e.name.c_str(), src, ZIP_FL_ENC_UTF_8 | ZIP_FL_OVERWRITE);
    ASSERT_GE(index, 0) << zip_strerror(z);
    if (e.symlink) {
      ASSERT_EQ(zip_file_set_external_attributes(z, static_cast<zip_uint64_t>(index), 0, ZIP_OPSYS_UNIX, 0120777u << 16), 0);
    }
  }
  ASSERT_EQ(zip_close(z), 0);
}

const char* kReview =
    R"({"format":"cellcam-reviewed-set/1","model":{"name":"malaria","version":"0.4.0","sha256":"abc"},)"
    R"("classes":["Uninfected","Parasitized"],"exported_at":"2026-12-05T08:00:00Z","images":4,"confirmed":2,"corrected":2})";

// The page's layout: manifest.csv (every column, groups empty or a folder), images/, review.json.
std::vector<ZipEntry> reviewed_entries() {
  const fs::path m = fs::path(CELLCAM_TEST_DATA_DIR) / "malaria";
  std::vector<ZipEntry> e;
  e.push_back({"manifest.csv",
               "path,label,group,predicted,probability,model,reviewed_at,note\n"
               "images/00001_parasitized_P139_cell_157.png,Parasitized,,Parasitized,0.97,malaria@0.4.0,2026-12-05T08:00:00Z,\n"
               "images/00002_parasitized_P61_cell_164.png,Parasitized,day1,Uninfected,0.41,malaria@0.4.0,2026-12-05T08:01:00Z,\"corrected, faint ring\"\n"
               "images/00003_uninfected_P61_cell_144.png,Uninfected,day1,Uninfected,0.12,malaria@0.4.0,2026-12-05T08:02:00Z,\n"
               "images/00004_uninfected_P97_cell_57.png,Uninfected,,Parasitized,0.55,malaria@0.4.0,2026-12-05T08:03:00Z,corrected\n",
               false});
  e.push_back({"images/", "", false});
  e.push_back({"images/00001_parasitized_P139_cell_157.png", read_bytes(m / "parasitized_P139_cell_157.png"), false});
  e.push_back({"images/00002_parasitized_P61_cell_164.png", read_bytes(m / "parasitized_P61_cell_164.png"), false});
  e.push_back({"images/00003_uninfected_P61_cell_144.png", read_bytes(m / "uninfected_P61_cell_144.png"), false});
  e.push_back({"images/00004_uninfected_P97_cell_57.png", read_bytes(m / "uninfected_P97_cell_57.png"), false});
  e.push_back({"review.json", kReview, false});
  return e;
}

class ReviewedSet : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("cellcam_reviewed_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  // Nothing but the ZIP itself in the folder: no unpacked or partial folder was left behind.
  void expect_only(const fs::path& zip) {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(dir_)) names.push_back(entry.path().filename().string());
    EXPECT_EQ(names, std::vector<std::string>{zip.filename().string()});
  }
  fs::path dir_;
};

TEST_F(ReviewedSet, GoodZipLoadsAsADatasetAndIsReused) {
  const fs::path zip = dir_ / "reviewed-2026-12-05.zip";
  make_zip(zip, reviewed_entries());
  Result<Dataset> ds = load_dataset(zip.string());
  ASSERT_TRUE(ds) << ds.error().message;
  EXPECT_EQ(ds.value().classes, (std::vector<std::string>{"Parasitized", "Uninfected"}));
  ASSERT_EQ(ds.value().samples.size(), 4u);
  EXPECT_TRUE(ds.value().skipped.empty());
  EXPECT_TRUE(ds.value().has_groups);
  EXPECT_EQ(ds.value().samples[0].group, "");
  EXPECT_EQ(ds.value().samples[1].group, "day1");
  const fs::path folder = dir_ / "reviewed-2026-12-05.unpacked";
  EXPECT_EQ(unpacked_folder_for(zip.string()), folder.string());
  EXPECT_TRUE(fs::is_regular_file(folder / "images" / "00001_parasitized_P139_cell_157.png"));
  EXPECT_TRUE(fs::is_regular_file(folder / "review.json"));
  EXPECT_EQ(ds.value().samples[0].path, (folder / "images" / "00001_parasitized_P139_cell_157.png").string());

  // Empty groups are images of their own; "day1" keeps its two images in one part.
  SplitOptions options;
  options.val_fraction = 0.25;
  options.test_fraction = 0.25;
  Result<Split> split = make_split(ds.value(), options);
  ASSERT_TRUE(split) << split.error().message;
  auto part_of = [&](int i) {
    for (int j : split.value().train) if (j == i) return 0;
    for (int j : split.value().val) if (j == i) return 1;
    return 2;
  };
  EXPECT_EQ(part_of(1), part_of(2));

  // Reused as it is: a file added by hand survives a second load.
  write_bytes(folder / "marker.txt", "x");
  ASSERT_TRUE(load_dataset(zip.string()));
  EXPECT_TRUE(fs::exists(folder / "marker.txt"));
  // A changed ZIP (one image fewer) is unpacked again, whole.
  std::vector<ZipEntry> fewer = reviewed_entries();
  fewer.erase(fewer.begin() + 5);  // 00004
  fewer[0].bytes = fewer[0].bytes.substr(0, fewer[0].bytes.find("images/00004"));
  make_zip(zip, fewer);
  Result<Dataset> again = load_dataset(zip.string());
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again.value().samples.size(), 3u);
  EXPECT_FALSE(fs::exists(folder / "marker.txt"));
  EXPECT_FALSE(fs::exists(folder / "images" / "00004_uninfected_P97_cell_57.png"));

  // The unpacked folder is a dataset too.
  Result<Dataset> unpacked = load_dataset(folder.string());
  ASSERT_TRUE(unpacked) << unpacked.error().message;
  EXPECT_EQ(unpacked.value().samples.size(), 3u);
}

TEST_F(ReviewedSet, TraversalAbsoluteAndSymlinkEntriesAreRefused) {
  struct Case {
    const char* what;
    ZipEntry entry;
    const char* expect;
  };
  const std::vector<Case> cases = {
      {"dotdot", {"../cellcam_zip_escape", "evil", false}, "\"..\" component"},
      {"nested dotdot", {"images/../../cellcam_zip_escape", "evil", false}, "\"..\" component"},
      {"absolute", {"/tmp/cellcam_zip_escape_abs", "evil", false}, "absolute path"},
      {"backslash", {"..\\cellcam_zip_escape", "evil", false}, "backslash"},
      {"symlink", {"images/link.png", "/etc/passwd", true}, "symbolic link"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    const fs::path zip = dir_ / "bad.zip";
    std::vector<ZipEntry> entries = reviewed_entries();
    entries.push_back(c.entry);
    make_zip(zip, entries);
    Result<Dataset> ds = load_dataset(zip.string());
    ASSERT_FALSE(ds);
    EXPECT_EQ(ds.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(ds.error().message.find(c.expect), std::string::npos) << ds.error().message;
    EXPECT_EQ(ds.error().message.find('\n'), std::string::npos);
    expect_only(zip);
    EXPECT_FALSE(fs::exists(dir_.parent_path() / "cellcam_zip_escape"));
    EXPECT_FALSE(fs::exists("/tmp/cellcam_zip_escape_abs"));
  }
}

TEST_F(ReviewedSet, ManifestRowsOutsideTheSetAreSkipped) {
  const fs::path zip = dir_ / "rows.zip";
  std::vector<ZipEntry> entries = reviewed_entries();
  entries[0].bytes += "../outside.png,Parasitized,,,,,,\n/etc/hostname,Uninfected,,,,,,\n";
  write_bytes(dir_ / "outside.png", read_bytes(fs::path(CELLCAM_TEST_DATA_DIR) / "malaria" / "parasitized_P139_cell_157.png"));
  make_zip(zip, entries);
  Result<Dataset> ds = load_dataset(zip.string());
  ASSERT_TRUE(ds) << ds.error().message;
  EXPECT_EQ(ds.value().samples.size(), 4u);
  int outside = 0;
  for (const Skipped& s : ds.value().skipped) outside += s.reason.find("leaves the reviewed set") != std::string::npos;
  EXPECT_GE(outside, 1);
}

TEST_F(ReviewedSet, DamagedZipsAreOneLineErrors) {
  const fs::path good = dir_ / "good.zip";
  make_zip(good, reviewed_entries());
  const std::string bytes = read_bytes(good);
  fs::remove(good);
  // Truncated at several points, flipped bytes in the middle, garbage with a ZIP signature, empty.
  std::vector<std::pair<std::string, std::string>> variants;
  for (double cut : {0.1, 0.5, 0.9, 0.99}) variants.push_back({"cut", bytes.substr(0, static_cast<std::size_t>(bytes.size() * cut))});
  std::string flipped = bytes;
  for (std::size_t i = bytes.size() / 3; i < bytes.size() / 3 + 64; ++i) flipped[i] = static_cast<char>(flipped[i] ^ 0x5a);
  variants.push_back({"flipped", flipped});
  variants.push_back({"garbage", std::string("PK\3\4") + std::string(200, '\x7f')});
  variants.push_back({"empty", ""});
  for (const auto& [what, data] : variants) {
    SCOPED_TRACE(what + " " + std::to_string(data.size()));
    const fs::path zip = dir_ / "damaged.zip";
    write_bytes(zip, data);
    Result<Dataset> ds = load_dataset(zip.string());
    ASSERT_FALSE(ds);
    EXPECT_TRUE(ds.error().code == ErrorCode::kCorrupt || ds.error().code == ErrorCode::kInvalidArgument) << ds.error().message;
    EXPECT_FALSE(ds.error().message.empty());
    EXPECT_EQ(ds.error().message.find('\n'), std::string::npos);
    expect_only(zip);
  }
}

TEST_F(ReviewedSet, LimitsRefuseZipBombs) {
  const fs::path zip = dir_ / "bomb.zip";
  std::vector<ZipEntry> entries = reviewed_entries();
  entries.push_back({"images/zeros.bin", std::string(4 << 20, '\0'), false});  // 4 MB of zeros: a few KB deflated
  make_zip(zip, entries);
  EXPECT_LT(fs::file_size(zip), 64u << 10);
  ZipLimits small;
  small.max_total_bytes = 1 << 20;
  Result<Dataset> ds = load_reviewed_set(zip.string(), small);
  ASSERT_FALSE(ds);
  EXPECT_NE(ds.error().message.find("zip bomb"), std::string::npos) << ds.error().message;
  expect_only(zip);

  ZipLimits per_entry;
  per_entry.max_entry_bytes = 1 << 20;
  ds = load_reviewed_set(zip.string(), per_entry);
  ASSERT_FALSE(ds);
  EXPECT_NE(ds.error().message.find("more than the limit"), std::string::npos) << ds.error().message;

  ZipLimits few;
  few.max_entries = 3;
  ds = load_reviewed_set(zip.string(), few);
  ASSERT_FALSE(ds);
  EXPECT_NE(ds.error().message.find("entries, more than the limit of 3"), std::string::npos) << ds.error().message;
  expect_only(zip);
  // Within the default limits it unpacks.
  EXPECT_TRUE(load_reviewed_set(zip.string())) << "default limits";
}

TEST_F(ReviewedSet, NotAReviewedSet) {
  const fs::path zip = dir_ / "other.zip";
  make_zip(zip, {{"readme.txt", "hello", false}});
  Result<Dataset> ds = load_dataset(zip.string());
  ASSERT_FALSE(ds);
  EXPECT_NE(ds.error().message.find("no manifest.csv"), std::string::npos) << ds.error().message;

  std::vector<ZipEntry> entries = reviewed_entries();
  entries.back().bytes = R"({"format":"cellcam-reviewed-set/9"})";
  make_zip(zip, entries);
  ds = load_dataset(zip.string());
  ASSERT_FALSE(ds);
  EXPECT_NE(ds.error().message.find("cellcam-reviewed-set/9"), std::string::npos) << ds.error().message;
}

}  // namespace
