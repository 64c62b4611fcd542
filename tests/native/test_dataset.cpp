// test_dataset.cpp — the dataset readers (ImageFolder, Kaggle labels.csv, manifest CSV) and the CSV
// parser. The readers never decode pixels, so the fixtures are empty placeholder files in a temp folder.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "dataset.h"

namespace cellcam::data {
namespace {
namespace fs = std::filesystem;

// A fresh folder, removed afterwards; the pid keeps parallel ctest runs apart, the counter the folders
// of one test.
class TempDir {
 public:
  TempDir() {
    static int counter = 0;
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = fs::temp_directory_path() / ("cellcam_test_dataset_" + std::string(info->test_suite_name()) + "_" + info->name() +
                                         "_" + std::to_string(::getpid()) + "_" + std::to_string(++counter));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  std::string str() const { return path_.string(); }
  std::string operator/(const std::string& rel) const { return (path_ / rel).string(); }
  void write(const std::string& rel, const std::string& content = "") const {
    const fs::path p = path_ / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << content;
  }
  void mkdir(const std::string& rel) const { fs::create_directories(path_ / rel); }

 private:
  fs::path path_;
};

Dataset load_ok(Result<Dataset> r) {
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return r.ok() ? r.take() : Dataset{};
}

std::vector<std::string> paths_relative_to(const Dataset& ds, const TempDir& dir) {
  std::vector<std::string> out;
  for (const Sample& s : ds.samples) out.push_back(fs::path(s.path).lexically_relative(dir.path()).generic_string());
  return out;
}

std::vector<int> labels(const Dataset& ds) {
  std::vector<int> out;
  for (const Sample& s : ds.samples) out.push_back(s.label);
  return out;
}

// ---- CSV ---------------------------------------------------------------------------------------

TEST(Csv, QuotesCommasDoubledQuotesAndLineEnds) {
  Result<std::vector<CsvRow>> r =
      parse_csv("\xEF\xBB\xBF" "a,b\r\n\"x,1\",\"say \"\"hi\"\"\"\r\n\"two\nlines\",z\rlast,\n\n\r\n", "t.csv");
  ASSERT_TRUE(r.ok()) << r.error().message;
  const std::vector<CsvRow>& rows = r.value();
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0].fields, (std::vector<std::string>{"a", "b"}));  // the BOM is not part of "a"
  EXPECT_EQ(rows[1].fields, (std::vector<std::string>{"x,1", "say \"hi\""}));
  EXPECT_EQ(rows[2].fields, (std::vector<std::string>{"two\nlines", "z"}));
  EXPECT_EQ(rows[3].fields, (std::vector<std::string>{"last", ""}));
  EXPECT_EQ(rows[0].line, 1);
  EXPECT_EQ(rows[1].line, 2);
  EXPECT_EQ(rows[2].line, 3);
  EXPECT_EQ(rows[3].line, 5);  // the quoted newline counted, the lone CR ended line 4
}

TEST(Csv, UnclosedQuoteIsAnError) {
  Result<std::vector<CsvRow>> r = parse_csv("a,b\n1,\"open\n2,3\n", "t.csv");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kCorrupt);
  EXPECT_NE(r.error().message.find("line 2"), std::string::npos) << r.error().message;
}

TEST(Csv, EmptyTextHasNoRows) {
  ASSERT_TRUE(parse_csv("", "t.csv").ok());
  EXPECT_TRUE(parse_csv("\r\n\n", "t.csv").value().empty());
}

// ---- ImageFolder -------------------------------------------------------------------------------

TEST(ImageFolder, ClassOrderFileOrderAndNonImagesIgnored) {
  TempDir dir;
  dir.write("b_cells/z.png");
  dir.write("b_cells/a.JPG");
  dir.write("b_cells/sub/m.tiff");
  dir.write("b_cells/notes.txt");
  dir.write("b_cells/.hidden.png");
  dir.write("b_cells/.ipynb_checkpoints/a-checkpoint.png");
  dir.write("A_cells/x.jpeg");
  dir.write("A_cells/y.Bmp");
  dir.mkdir("empty");
  dir.mkdir(".git");
  dir.write("readme.md");
  dir.write("loose.png");  // not in a class folder

  const Dataset ds = load_ok(load_image_folder(dir.str()));
  EXPECT_EQ(ds.classes, (std::vector<std::string>{"A_cells", "b_cells", "empty"}));  // byte order, as Python's sorted()
  EXPECT_EQ(paths_relative_to(ds, dir),
            (std::vector<std::string>{"A_cells/x.jpeg", "A_cells/y.Bmp", "b_cells/a.JPG", "b_cells/sub/m.tiff", "b_cells/z.png"}));
  EXPECT_EQ(labels(ds), (std::vector<int>{0, 0, 1, 1, 1}));
  EXPECT_FALSE(ds.has_groups);
  EXPECT_TRUE(ds.skipped.empty());
  for (const Sample& s : ds.samples) EXPECT_TRUE(s.group.empty());
}

TEST(ImageFolder, EmptyRootIsAnError) {
  TempDir dir;
  Result<Dataset> r = load_image_folder(dir.str());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().message.find("no class folders in " + dir.str()), std::string::npos) << r.error().message;

  dir.write("cls/readme.txt");
  r = load_image_folder(dir.str());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("no images in the 1 class folders"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find(".png"), std::string::npos) << r.error().message;

  r = load_image_folder(dir / "absent");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kIo);
  EXPECT_NE(r.error().message.find("not a folder"), std::string::npos) << r.error().message;
}

// ---- Kaggle ------------------------------------------------------------------------------------

TEST(Kaggle, CrlfBomExtensionDiscoveryAndMissingImages) {
  TempDir dir;
  dir.write("labels.csv", "\xEF\xBB\xBFid,label\r\nb1,1\r\na2,0\r\nc3,1\r\nmissing,0\r\nd4.png,0\r\nb1,0\r\n\r\n\r\n");
  dir.write("images/a2.png");
  dir.write("images/b1.JPG");
  dir.write("images/c3.tif");
  dir.write("images/c3.jpg");  // two files for c3: .jpg comes before .tif in the preference order
  dir.write("images/d4.png");
  dir.write("images/c3.txt");

  const Dataset ds = load_ok(load_kaggle(dir.str()));
  EXPECT_EQ(ds.classes, (std::vector<std::string>{"0", "1"}));
  EXPECT_EQ(paths_relative_to(ds, dir),
            (std::vector<std::string>{"images/b1.JPG", "images/a2.png", "images/c3.jpg", "images/d4.png"}));
  EXPECT_EQ(labels(ds), (std::vector<int>{1, 0, 1, 0}));
  EXPECT_FALSE(ds.has_groups);
  ASSERT_EQ(ds.skipped.size(), 2u);
  EXPECT_EQ(ds.skipped[0].reason, "no image file for id missing");
  EXPECT_EQ(ds.skipped[1].reason, "line 7: id b1 repeats line 2");
}

TEST(Kaggle, StringAndNumericLabelsAndImageFolderChoice) {
  TempDir dir;  // no images/ folder: train/ is used
  dir.write("labels.csv", "label,id,note\ntumour,p1,x\nnormal,p2,y\nnormal,p3,z\n");
  dir.write("train/p1.png");
  dir.write("train/p2.png");
  dir.write("train/p3.png");
  Dataset ds = load_ok(load_kaggle(dir.str()));
  EXPECT_EQ(ds.classes, (std::vector<std::string>{"normal", "tumour"}));
  EXPECT_EQ(labels(ds), (std::vector<int>{1, 0, 0}));
  EXPECT_EQ(paths_relative_to(ds, dir)[0], "train/p1.png");

  TempDir flat;  // neither: the images sit next to labels.csv; integer labels sort as numbers
  flat.write("labels.csv", "id,label\nq1,10\nq2,9\nq3,2\n");
  flat.write("q1.png");
  flat.write("q2.png");
  flat.write("q3.png");
  ds = load_ok(load_kaggle(flat.str()));
  EXPECT_EQ(ds.classes, (std::vector<std::string>{"2", "9", "10"}));
  EXPECT_EQ(labels(ds), (std::vector<int>{2, 1, 0}));
}

TEST(Kaggle, ErrorsNameTheProblem) {
  TempDir dir;
  Result<Dataset> r = load_kaggle(dir.str());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kIo);
  EXPECT_NE(r.error().message.find("labels.csv"), std::string::npos);

  dir.write("labels.csv", "name,class\na,1\n");
  r = load_kaggle(dir.str());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("id and label"), std::string::npos) << r.error().message;

  dir.write("labels.csv", "id,label\na,1\n");  // no image for the only id
  r = load_kaggle(dir.str());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("no usable rows"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("no image file for id a"), std::string::npos) << r.error().message;
}

// ---- manifest ----------------------------------------------------------------------------------

TEST(Manifest, QuotedFieldsPatientColumnMissingFilesMalformedRows) {
  TempDir dir;
  dir.write("cls/with,comma.png");
  dir.write("cls/say \"hi\".png");
  dir.write("cls/ok.png");
  dir.write("cls/ok2.png");
  dir.write("manifest.csv",
            "path,label,Patient\r\n"
            "\"cls/with,comma.png\",Parasitized,P1\r\n"
            "\"cls/say \"\"hi\"\".png\",Uninfected,\"P 2\"\r\n"
            "cls/missing.png,Uninfected,P3\r\n"
            "cls/ok.png,Parasitized\r\n"
            "cls/ok2.png,Uninfected,P4,extra\r\n"
            "cls/ok.png,Parasitized,\r\n"
            "cls/ok.png,Parasitized,P5\r\n");
  const Dataset ds = load_ok(load_manifest(dir / "manifest.csv"));
  EXPECT_TRUE(ds.has_groups);
  EXPECT_EQ(ds.classes, (std::vector<std::string>{"Parasitized", "Uninfected"}));
  ASSERT_EQ(ds.samples.size(), 3u);
  EXPECT_EQ(paths_relative_to(ds, dir), (std::vector<std::string>{"cls/with,comma.png", "cls/say \"hi\".png", "cls/ok.png"}));
  EXPECT_EQ(labels(ds), (std::vector<int>{0, 1, 0}));
  EXPECT_EQ(ds.samples[0].group, "P1");
  EXPECT_EQ(ds.samples[1].group, "P 2");
  EXPECT_EQ(ds.samples[2].group, "");  // an empty group cell: a group of its own when splitting

  ASSERT_EQ(ds.skipped.size(), 4u);
  EXPECT_EQ(ds.skipped[0].path, dir / "cls/missing.png");
  EXPECT_EQ(ds.skipped[0].reason, "line 4: file not found");
  EXPECT_EQ(ds.skipped[1].reason, "line 5: expected 3 fields, found 2");
  EXPECT_EQ(ds.skipped[2].reason, "line 6: expected 3 fields, found 4");
  EXPECT_EQ(ds.skipped[3].reason, "line 8: same file as line 7");
}

TEST(Manifest, GroupColumnIsOptionalAndColumnsCanBeInAnyOrder) {
  TempDir dir;
  dir.write("a.png");
  dir.write("b.png");
  dir.write("grouped.csv", "group,label,path\ng1,x,a.png\ng1,y,b.png\n");
  dir.write("plain.csv", "label,path\nx,a.png\ny,b.png\n");
  Dataset ds = load_ok(load_manifest(dir / "grouped.csv"));
  EXPECT_TRUE(ds.has_groups);
  EXPECT_EQ(ds.samples[1].group, "g1");
  EXPECT_EQ(ds.samples[1].path, dir / "b.png");
  ds = load_ok(load_manifest(dir / "plain.csv"));
  EXPECT_FALSE(ds.has_groups);
  EXPECT_EQ(ds.samples.size(), 2u);
}

TEST(Manifest, BadHeaderAndUnclosedQuoteAreErrors) {
  TempDir dir;
  dir.write("a.png");
  dir.write("noheader.csv", "a.png,x\n");
  Result<Dataset> r = load_manifest(dir / "noheader.csv");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("path and label"), std::string::npos) << r.error().message;

  dir.write("open.csv", "path,label\n\"a.png,x\n");
  r = load_manifest(dir / "open.csv");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kCorrupt);

  r = load_manifest(dir / "absent.csv");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kIo);
}

// ---- auto-detection ----------------------------------------------------------------------------

TEST(LoadDataset, DetectsTheThreeLayouts) {
  TempDir folder;  // ImageFolder
  folder.write("cat/1.png");
  folder.write("dog/2.png");
  Dataset ds = load_ok(load_dataset(folder.str()));
  EXPECT_EQ(ds.classes, (std::vector<std::string>{"cat", "dog"}));
  EXPECT_FALSE(ds.has_groups);

  TempDir kaggle;  // labels.csv wins over the class-folder look of images/
  kaggle.write("labels.csv", "id,label\n1,0\n");
  kaggle.write("images/1.jpg");
  ds = load_ok(load_dataset(kaggle.str()));
  EXPECT_EQ(ds.classes, (std::vector<std::string>{"0"}));
  EXPECT_EQ(ds.samples.size(), 1u);

  TempDir manifest;  // ImageFolder plus manifest.csv, as malaria/: the manifest, for its groups
  manifest.write("Parasitized/a.png");
  manifest.write("Uninfected/b.png");
  manifest.write("manifest.csv", "path,label,patient\nParasitized/a.png,Parasitized,P1\nUninfected/b.png,Uninfected,P1\n");
  ds = load_ok(load_dataset(manifest.str()));
  EXPECT_TRUE(ds.has_groups);
  EXPECT_EQ(ds.samples[0].group, "P1");
  ds = load_ok(load_dataset(manifest / "manifest.csv"));  // the CSV itself
  EXPECT_TRUE(ds.has_groups);

  Result<Dataset> r = load_dataset(folder / "nothing_here");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kIo);
  r = load_dataset(folder / "cat/1.png");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
}

// ---- the real data, when this machine has it ---------------------------------------------------

const char* const kRealData = "/work/shared/data";

TEST(RealData, ThreeDatasetsLoadCompletely) {
  if (!fs::exists(std::string(kRealData) + "/malaria/manifest.csv")) GTEST_SKIP() << kRealData << " is not on this machine";
  Dataset malaria = load_ok(load_dataset(std::string(kRealData) + "/malaria"));
  EXPECT_EQ(malaria.classes, (std::vector<std::string>{"Parasitized", "Uninfected"}));
  EXPECT_EQ(malaria.samples.size(), 9000u);
  EXPECT_TRUE(malaria.skipped.empty());
  EXPECT_TRUE(malaria.has_groups);
  std::set<std::string> patients;
  for (const Sample& s : malaria.samples) patients.insert(s.group);
  EXPECT_EQ(patients.size(), 206u);

  if (fs::exists(std::string(kRealData) + "/pcam/labels.csv")) {
    Dataset pcam = load_ok(load_dataset(std::string(kRealData) + "/pcam"));
    EXPECT_EQ(pcam.classes, (std::vector<std::string>{"0", "1"}));
    EXPECT_EQ(pcam.samples.size(), 8000u);
    EXPECT_TRUE(pcam.skipped.empty());
  }
  if (fs::exists(std::string(kRealData) + "/blood")) {
    Dataset blood = load_ok(load_dataset(std::string(kRealData) + "/blood"));
    EXPECT_EQ(blood.classes.size(), 8u);
    EXPECT_EQ(blood.samples.size(), 2601u);
  }
}

}  // namespace
}  // namespace cellcam::data
