// test_split.cpp — stratified and stratified-group splits, and their CSV round trip. The datasets are
// synthetic (no files needed) except the last test, which runs on the real malaria manifest when
// this machine has it.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "split.h"

namespace cellcam::data {
namespace {
namespace fs = std::filesystem;

// `per_class[k]` samples of class k, named c<k>_<i>.png, no groups.
Dataset flat_dataset(const std::vector<int>& per_class) {
  Dataset ds;
  for (std::size_t k = 0; k < per_class.size(); ++k) {
    ds.classes.push_back("class" + std::to_string(k));
    for (int i = 0; i < per_class[k]; ++i)
      ds.samples.push_back(Sample{"c" + std::to_string(k) + "_" + std::to_string(i) + ".png", static_cast<int>(k), {}});
  }
  return ds;
}

// Shaped like the malaria set: two classes; 120 patients with a mix of infected and uninfected cells
// (10-80 images), 80 patients with uninfected cells only, 4 heavily infected patients of ~300 images,
// and 10 images without a patient. The generator's output is fixed by the standard; `% n` is fine here.
Dataset malaria_like() {
  Dataset ds;
  ds.classes = {"Parasitized", "Uninfected"};
  ds.has_groups = true;
  std::mt19937_64 rng(7);
  int n = 0;
  const auto add = [&](const std::string& group, int size, double infected) {
    for (int i = 0; i < size; ++i) {
      const int label = i < static_cast<int>(std::lround(size * infected)) ? 0 : 1;
      ds.samples.push_back(Sample{"img_" + std::to_string(n++) + ".png", label, group});
    }
  };
  for (int g = 0; g < 120; ++g) add("P" + std::to_string(g), 10 + static_cast<int>(rng() % 71), (rng() % 96) / 100.0);
  for (int g = 0; g < 80; ++g) add("C" + std::to_string(g), 10 + static_cast<int>(rng() % 71), 0.0);
  for (int g = 0; g < 4; ++g) add("BIG" + std::to_string(g), 250 + static_cast<int>(rng() % 60), 0.9);
  for (int g = 0; g < 10; ++g) add("", 1, (g % 2) ? 1.0 : 0.0);
  return ds;
}

std::vector<int> part_vector(const Dataset& ds, const Split& s) {
  std::vector<int> part(ds.samples.size(), -1);
  int p = 0;
  for (const std::vector<int>* v : {&s.train, &s.val, &s.test}) {
    for (int i : *v) {
      EXPECT_GE(i, 0);
      EXPECT_LT(i, static_cast<int>(ds.samples.size()));
      EXPECT_EQ(part[i], -1) << "index " << i << " is in two parts";
      part[i] = p;
    }
    ++p;
  }
  return part;
}

void expect_partition(const Dataset& ds, const Split& s) {
  const std::vector<int> part = part_vector(ds, s);
  for (std::size_t i = 0; i < part.size(); ++i) EXPECT_NE(part[i], -1) << "index " << i << " is in no part";
  for (const std::vector<int>* v : {&s.train, &s.val, &s.test}) EXPECT_TRUE(std::is_sorted(v->begin(), v->end()));
}

void expect_groups_whole(const Dataset& ds, const Split& s) {
  const std::vector<int> part = part_vector(ds, s);
  std::map<std::string, int> part_of_group;
  for (std::size_t i = 0; i < ds.samples.size(); ++i) {
    if (ds.samples[i].group.empty()) continue;
    auto [it, first] = part_of_group.emplace(ds.samples[i].group, part[i]);
    EXPECT_TRUE(first || it->second == part[i]) << "group " << ds.samples[i].group << " is in two parts";
  }
}

double share_of_class(const Dataset& ds, const std::vector<int>& idx, int label) {
  int n = 0;
  for (int i : idx) n += ds.samples[i].label == label;
  return idx.empty() ? 0.0 : static_cast<double>(n) / idx.size();
}

// Part fractions within `size_tol` and every class's share in every part within `class_tol` of its
// overall share (both as fractions, 0.02 = 2 points).
void expect_balanced(const Dataset& ds, const Split& s, const SplitOptions& o, double size_tol, double class_tol) {
  const double n = static_cast<double>(ds.samples.size());
  EXPECT_NEAR(s.val.size() / n, o.val_fraction, size_tol);
  EXPECT_NEAR(s.test.size() / n, o.test_fraction, size_tol);
  std::vector<int> all(ds.samples.size());
  for (std::size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int>(i);
  for (int k = 0; k < static_cast<int>(ds.classes.size()); ++k) {
    const double overall = share_of_class(ds, all, k);
    EXPECT_NEAR(share_of_class(ds, s.train, k), overall, class_tol) << "train, class " << ds.classes[k];
    EXPECT_NEAR(share_of_class(ds, s.val, k), overall, class_tol) << "val, class " << ds.classes[k];
    EXPECT_NEAR(share_of_class(ds, s.test, k), overall, class_tol) << "test, class " << ds.classes[k];
  }
}

bool same(const Split& a, const Split& b) { return a.train == b.train && a.val == b.val && a.test == b.test; }

Split split_ok(Result<Split> r) {
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return r.ok() ? r.take() : Split{};
}

// ---- stratified --------------------------------------------------------------------------------

TEST(StratifiedSplit, CoversEverySampleOnceWithExactPerClassCounts) {
  const Dataset ds = flat_dataset({100, 37, 5, 2, 1});
  const Split s = split_ok(stratified_split(ds, SplitOptions{}));
  expect_partition(ds, s);
  // Per class, largest remainder of n x (0.70, 0.15, 0.15): 100 -> 70/15/15, 37 -> 26/6/5 (5.55 each,
  // train's .9 and then the tie to val), 5 -> 3/1/1, 2 -> 2/0/0, 1 -> 1/0/0.
  const std::vector<std::vector<int>> expected = {{70, 15, 15}, {26, 6, 5}, {3, 1, 1}, {2, 0, 0}, {1, 0, 0}};
  for (int k = 0; k < 5; ++k) {
    int count[3] = {0, 0, 0};
    int p = 0;
    for (const std::vector<int>* v : {&s.train, &s.val, &s.test}) {
      for (int i : *v) count[p] += ds.samples[i].label == k;
      ++p;
    }
    EXPECT_EQ((std::vector<int>{count[0], count[1], count[2]}), expected[k]) << "class " << k;
  }
}

TEST(StratifiedSplit, SameSeedSameSplitOtherSeedOtherSplit) {
  const Dataset ds = flat_dataset({300, 200, 50});
  SplitOptions o;
  const Split a = split_ok(stratified_split(ds, o));
  const Split b = split_ok(stratified_split(ds, o));
  EXPECT_TRUE(same(a, b));
  o.seed = 43;
  const Split c = split_ok(stratified_split(ds, o));
  EXPECT_FALSE(same(a, c));
  expect_balanced(ds, c, o, 0.005, 0.01);
}

// The shuffle is ours and mt19937_64 is fixed by the standard, so these indices are the same on every
// platform and compiler. If this test fails, saved splits made by the trainer no longer reproduce.
TEST(StratifiedSplit, PinnedIndicesForSeed42) {
  const Dataset ds = flat_dataset({10, 10});
  const Split s = split_ok(stratified_split(ds, SplitOptions{}));
  EXPECT_EQ(s.val, (std::vector<int>{7, 9, 12, 18}));
  EXPECT_EQ(s.test, (std::vector<int>{1, 11}));
}

TEST(StratifiedSplit, ZeroFractionsAndInvalidOptions) {
  const Dataset ds = flat_dataset({40, 40});
  SplitOptions o;
  o.val_fraction = 0.0;
  o.test_fraction = 0.25;
  const Split s = split_ok(stratified_split(ds, o));
  EXPECT_TRUE(s.val.empty());
  EXPECT_EQ(s.test.size(), 20u);
  EXPECT_EQ(s.train.size(), 60u);

  for (auto [val, test] : {std::pair{0.5, 0.5}, std::pair{-0.1, 0.1}, std::pair{0.1, 1.0}, std::pair{std::nan(""), 0.1}}) {
    o.val_fraction = val;
    o.test_fraction = test;
    Result<Split> r = stratified_split(ds, o);
    ASSERT_FALSE(r.ok()) << val << " " << test;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  }
  Result<Split> r = stratified_split(Dataset{}, SplitOptions{});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("without samples"), std::string::npos);

  Dataset bad = flat_dataset({3});
  bad.samples[1].label = 5;
  r = stratified_split(bad, SplitOptions{});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("label 5"), std::string::npos) << r.error().message;
}

// ---- stratified by group -----------------------------------------------------------------------

TEST(GroupSplit, MalariaShapedDatasetIsBalancedForManySeeds) {
  const Dataset ds = malaria_like();
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    SplitOptions o;
    o.seed = seed;
    const Split s = split_ok(stratified_group_split(ds, o));
    expect_partition(ds, s);
    expect_groups_whole(ds, s);
    expect_balanced(ds, s, o, 0.02, 0.03);
  }
}

TEST(GroupSplit, SameSeedSameSplitOtherSeedOtherSplit) {
  const Dataset ds = malaria_like();
  SplitOptions o;
  const Split a = split_ok(stratified_group_split(ds, o));
  EXPECT_TRUE(same(a, split_ok(stratified_group_split(ds, o))));
  o.seed = 43;
  const Split b = split_ok(stratified_group_split(ds, o));
  EXPECT_FALSE(same(a, b));
  // Different, not merely reshuffled at the edges: count the test groups the two splits share.
  std::set<std::string> test_a, test_b;
  for (int i : a.test) test_a.insert(ds.samples[i].group);
  for (int i : b.test) test_b.insert(ds.samples[i].group);
  int common = 0;
  for (const std::string& g : test_a) common += static_cast<int>(test_b.count(g));
  EXPECT_LT(common, static_cast<int>(test_a.size()) * 2 / 3);
}

TEST(GroupSplit, RowOrderDoesNotMatterForNamedGroups) {
  Dataset ds = malaria_like();
  ds.samples.erase(std::remove_if(ds.samples.begin(), ds.samples.end(), [](const Sample& s) { return s.group.empty(); }),
                   ds.samples.end());
  const Split a = split_ok(stratified_group_split(ds, SplitOptions{}));
  Dataset reversed = ds;
  std::reverse(reversed.samples.begin(), reversed.samples.end());
  const Split b = split_ok(stratified_group_split(reversed, SplitOptions{}));
  std::set<std::string> test_a, test_b;
  for (int i : a.test) test_a.insert(ds.samples[i].path);
  for (int i : b.test) test_b.insert(reversed.samples[i].path);
  EXPECT_EQ(test_a, test_b);
}

TEST(GroupSplit, FewGroupsZeroFractionAndUngroupedSamples) {
  Dataset ds = flat_dataset({6, 6});
  ds.has_groups = true;
  for (std::size_t i = 0; i < ds.samples.size(); ++i) ds.samples[i].group = i < 8 ? "g" + std::to_string(i % 4) : "";
  SplitOptions o;
  o.val_fraction = 0.0;
  o.test_fraction = 0.3;
  const Split s = split_ok(stratified_group_split(ds, o));
  expect_partition(ds, s);
  expect_groups_whole(ds, s);
  EXPECT_TRUE(s.val.empty());
  EXPECT_FALSE(s.test.empty());

  Dataset one = flat_dataset({5, 5});  // one group: all of it must train
  for (Sample& x : one.samples) x.group = "only";
  const Split t = split_ok(stratified_group_split(one, SplitOptions{}));
  EXPECT_EQ(t.train.size(), 10u);
}

TEST(MakeSplit, UsesGroupsOnlyWhenTheDatasetHasThem) {
  Dataset ds = malaria_like();
  const Split grouped = split_ok(make_split(ds, SplitOptions{}));
  expect_groups_whole(ds, grouped);
  EXPECT_TRUE(same(grouped, split_ok(stratified_group_split(ds, SplitOptions{}))));
  ds.has_groups = false;
  EXPECT_TRUE(same(split_ok(make_split(ds, SplitOptions{})), split_ok(stratified_split(ds, SplitOptions{}))));
}

// ---- CSV round trip ----------------------------------------------------------------------------

class SplitCsv : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("cellcam_test_split_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string file(const std::string& name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

TEST_F(SplitCsv, RoundTrip) {
  Dataset ds = malaria_like();
  ds.samples[0].path = "odd, \"quoted\" name.png";
  ds.samples[1].group = "patient, 2";
  const Split s = split_ok(make_split(ds, SplitOptions{}));
  Result<bool> w = write_split_csv(file("split.csv"), ds, s);
  ASSERT_TRUE(w.ok()) << w.error().message;
  EXPECT_FALSE(fs::exists(file("split.csv.tmp")));
  const Split back = split_ok(read_split_csv(file("split.csv"), ds));
  EXPECT_TRUE(same(s, back));

  std::ifstream in(file("split.csv"));
  std::string header, first;
  std::getline(in, header);
  std::getline(in, first);
  EXPECT_EQ(header, "path,label,group,part");
  EXPECT_EQ(first.rfind("\"odd, \"\"quoted\"\" name.png\"," + ds.classes[ds.samples[0].label] + ",P0,", 0), 0u) << first;
}

TEST_F(SplitCsv, ReadingMatchesTheSameFileByAbsolutePath) {
  Dataset ds = flat_dataset({4, 4});
  const Split s = split_ok(stratified_split(ds, SplitOptions{}));
  ASSERT_TRUE(write_split_csv(file("split.csv"), ds, s).ok());
  for (Sample& x : ds.samples) x.path = (fs::current_path() / "." / x.path).string();
  EXPECT_TRUE(same(s, split_ok(read_split_csv(file("split.csv"), ds))));
}

TEST_F(SplitCsv, AStaleSplitIsAnError) {
  const Dataset ds = flat_dataset({4, 4});
  std::ofstream(file("unknown.csv")) << "path,label,group,part\nnot_there.png,class0,,train\n";
  Result<Split> r = read_split_csv(file("unknown.csv"), ds);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("line 2: not_there.png is not in the dataset"), std::string::npos) << r.error().message;

  std::ofstream(file("relabelled.csv")) << "path,label,group,part\nc0_1.png,class1,,train\n";
  r = read_split_csv(file("relabelled.csv"), ds);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("labelled class1 in the split but class0"), std::string::npos) << r.error().message;

  std::ofstream(file("twice.csv")) << "path,label,group,part\nc0_1.png,class0,,train\nc0_1.png,class0,,test\n";
  r = read_split_csv(file("twice.csv"), ds);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("already listed on line 2"), std::string::npos) << r.error().message;

  std::ofstream(file("part.csv")) << "path,label,group,part\nc0_1.png,class0,,holdout\n";
  r = read_split_csv(file("part.csv"), ds);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("train, val or test"), std::string::npos) << r.error().message;

  Split overlapping;
  overlapping.train = {0, 1};
  overlapping.test = {1};
  Result<bool> w = write_split_csv(file("bad.csv"), ds, overlapping);
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.error().code, ErrorCode::kInvalidArgument);
}

// ---- K-fold cross-validation by group --------------------------------------------------------

TEST(CrossValidationSplit, TestPartsPartitionTheDataAndKeepPatientsWhole) {
  const Dataset ds = malaria_like();
  SplitOptions o;
  o.folds = 5;
  o.seed = 9;
  std::vector<int> tested(ds.samples.size(), 0);
  const double n = static_cast<double>(ds.samples.size());
  for (int fold = 1; fold <= 5; ++fold) {
    SCOPED_TRACE("fold " + std::to_string(fold));
    o.fold = fold;
    const Split s = split_ok(make_split(ds, o));
    expect_partition(ds, s);
    expect_groups_whole(ds, s);
    SplitOptions shares = o;
    shares.test_fraction = 0.2;
    expect_balanced(ds, s, shares, 0.02, 0.04);
    for (int i : s.test) ++tested[i];
    EXPECT_NEAR(s.val.size() / n, 0.15, 0.02);
  }
  for (std::size_t i = 0; i < tested.size(); ++i) ASSERT_EQ(tested[i], 1) << ds.samples[i].path << " tested " << tested[i] << " times";
}

TEST(CrossValidationSplit, SameSeedSameFoldsOtherSeedOtherFolds) {
  const Dataset ds = malaria_like();
  SplitOptions o;
  o.folds = 4;
  o.fold = 2;
  const Split a = split_ok(cross_validation_split(ds, o));
  EXPECT_TRUE(same(a, split_ok(cross_validation_split(ds, o))));
  o.seed = 43;
  EXPECT_FALSE(same(a, split_ok(cross_validation_split(ds, o))));
  // Without groups every image is its own group: still a partition over the folds.
  const Dataset flat = flat_dataset({60, 40});
  std::vector<int> tested(flat.samples.size(), 0);
  for (int fold = 1; fold <= 4; ++fold) {
    o.fold = fold;
    const Split s = split_ok(make_split(flat, o));
    expect_partition(flat, s);
    EXPECT_EQ(s.test.size(), 25u);
    for (int i : s.test) ++tested[i];
  }
  EXPECT_EQ(std::count(tested.begin(), tested.end(), 1), 100);
}

TEST(CrossValidationSplit, RefusesImpossibleFolds) {
  const Dataset ds = malaria_like();
  for (auto [folds, fold] : {std::pair{1, 1}, std::pair{5, 0}, std::pair{5, 6}, std::pair{101, 1}}) {
    SplitOptions o;
    o.folds = folds;
    o.fold = fold;
    Result<Split> r = cross_validation_split(ds, o);
    ASSERT_FALSE(r.ok()) << folds << " folds, fold " << fold;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  }
  SplitOptions o;  // 2 folds leave half for test: validation 0.6 leaves nothing to train on
  o.folds = 2;
  o.val_fraction = 0.6;
  EXPECT_FALSE(cross_validation_split(ds, o).ok());
}

// ---- the real malaria manifest, when this machine has it ---------------------------------------

TEST(RealData, MalariaGroupSplitIsBalanced) {
  const std::string manifest = "/work/shared/data/malaria/manifest.csv";
  if (!fs::exists(manifest)) GTEST_SKIP() << manifest << " is not on this machine";
  Result<Dataset> loaded = load_dataset(manifest);
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  const Dataset& ds = loaded.value();
  ASSERT_TRUE(ds.has_groups);
  for (std::uint64_t seed : {42u, 1u, 2u, 3u, 4u}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    SplitOptions o;
    o.seed = seed;
    const Split s = split_ok(make_split(ds, o));
    expect_partition(ds, s);
    expect_groups_whole(ds, s);
    expect_balanced(ds, s, o, 0.02, 0.03);
    if (seed == 42) {
      for (auto [name, idx] : {std::pair{"train", &s.train}, std::pair{"val", &s.val}, std::pair{"test", &s.test}}) {
        std::set<std::string> patients;
        for (int i : *idx) patients.insert(ds.samples[i].group);
        std::printf("malaria seed 42 %-5s %5zu images %3zu patients %5.1f%% parasitized\n", name, idx->size(), patients.size(),
                    100.0 * share_of_class(ds, *idx, 0));
      }
    }
  }
}

}  // namespace
}  // namespace cellcam::data
