// test_eda.cpp — `cellcam eda` on a tiny synthetic dataset written to a temp folder: two classes of
// random-block PNGs with known pixels (so the per-channel mean/std are checked against values computed
// here), one file copied into both classes (an exact duplicate with different labels), one image again
// with every sample +2 (a near duplicate at dHash distance <= 4), one broken file (an unreadable row, not
// a failure); then the report files, a split that puts the duplicate on both sides (a leak), and the
// refusal to overwrite a report without --force.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "dataset.h"
#include "decode_any.h"
#include "eda.h"
#include "eda_report.h"
#include "eda_stats.h"
#include "file_io.h"
#include "perceptual_hash.h"
#include "png_writer.h"

namespace cellcam::eda {
namespace {

namespace fs = std::filesystem;

constexpr int kSide = 32;

// kSide x kSide RGB of 4x4 blocks of random values in [0, 250] (room for +2 without clipping).
std::vector<std::uint8_t> blocks(std::uint32_t seed, int add = 0) {
  std::mt19937 rng(seed);
  std::vector<std::uint8_t> block(8 * 8 * 3);
  for (auto& v : block) v = static_cast<std::uint8_t>(rng() % 251);
  std::vector<std::uint8_t> px(kSide * kSide * 3);
  for (int y = 0; y < kSide; ++y)
    for (int x = 0; x < kSide; ++x)
      for (int c = 0; c < 3; ++c) px[(y * kSide + x) * 3 + c] = static_cast<std::uint8_t>(block[((y / 4) * 8 + x / 4) * 3 + c] + add);
  return px;
}

struct Fixture {
  fs::path root;
  std::vector<std::vector<std::uint8_t>> decoded;  // the pixels of every readable file, for the expected mean/std
};

void write(const fs::path& p, const std::vector<std::uint8_t>& px, Fixture& f) {
  ASSERT_TRUE(native::write_png(p.string(), kSide, kSide, 3, px.data(), kSide * 3).ok());
  f.decoded.push_back(px);
}

Fixture make_dataset(const std::string& name) {
  Fixture f;
  f.root = fs::temp_directory_path() / name;
  fs::remove_all(f.root);
  fs::create_directories(f.root / "a");
  fs::create_directories(f.root / "b");
  write(f.root / "a/img0.png", blocks(1), f);
  write(f.root / "a/img1.png", blocks(2), f);
  write(f.root / "a/near0.png", blocks(3), f);
  write(f.root / "a/dup.png", blocks(4), f);
  write(f.root / "b/img0.png", blocks(5), f);
  write(f.root / "b/img1.png", blocks(6), f);
  write(f.root / "b/near1.png", blocks(3, 2), f);
  fs::copy_file(f.root / "a/dup.png", f.root / "b/dup.png");
  f.decoded.push_back(blocks(4));
  std::ofstream(f.root / "b/broken.png") << "this is not a PNG";
  return f;
}

int index_of(const data::Dataset& ds, const std::string& suffix) {
  for (std::size_t i = 0; i < ds.samples.size(); ++i)
    if (ds.samples[i].path.size() >= suffix.size() &&
        ds.samples[i].path.compare(ds.samples[i].path.size() - suffix.size(), suffix.size(), suffix) == 0)
      return static_cast<int>(i);
  return -1;
}

TEST(PerceptualHash, BrightnessShiftKeepsTheHashAndOtherImagesDiffer) {
  Result<Image> a = make_image(kSide, kSide, 3, 8);
  ASSERT_TRUE(a.ok());
  Image x = a.value(), y = a.value(), z = a.value();
  x.samples = blocks(3);
  y.samples = blocks(3, 2);
  z.samples = blocks(9);
  const std::uint64_t hx = difference_hash(x).value(), hy = difference_hash(y).value(), hz = difference_hash(z).value();
  EXPECT_LE(hamming_distance(hx, hy), 4);
  EXPECT_GT(hamming_distance(hx, hz), 10);
  const DHash2 vx = difference_hashes(x).value(), vy = difference_hashes(y).value(), vz = difference_hashes(z).value();
  EXPECT_EQ(vx.horizontal, hx);
  EXPECT_LE(hamming_distance(vx.vertical, vy.vertical), 4);
  EXPECT_GT(hamming_distance(vx.vertical, vz.vertical), 10);
  EXPECT_EQ(hamming_distance(0, ~std::uint64_t{0}), 64);
  EXPECT_EQ(hamming_distance(0b1011, 0b0001), 2);
}

TEST(Eda, CountsStatisticsDuplicatesAndUnreadable) {
  Fixture f = make_dataset("cellcam_test_eda");
  Result<data::Dataset> loaded = data::load_dataset(f.root.string());
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  const data::Dataset& ds = loaded.value();
  ASSERT_EQ(ds.classes.size(), 2u);
  ASSERT_EQ(ds.samples.size(), 9u);

  EdaOptions options;
  options.threads = 3;
  options.samples = 2;
  Result<EdaStats> gathered = gather_eda(ds, options);
  ASSERT_TRUE(gathered.ok()) << gathered.error().message;
  const EdaStats& st = gathered.value();
  EXPECT_EQ(st.readable, 8u);
  const int broken = index_of(ds, "broken.png");
  ASSERT_GE(broken, 0);
  EXPECT_FALSE(st.images[broken].ok);
  EXPECT_FALSE(st.images[broken].error.empty());
  for (std::size_t i = 0; i < st.images.size(); ++i)
    if (static_cast<int>(i) != broken) {
      EXPECT_TRUE(st.images[i].ok) << ds.samples[i].path << ": " << st.images[i].error;
      EXPECT_EQ(st.images[i].width, kSide);
    }
  EXPECT_EQ(st.class_mean_count[0], 4u);
  EXPECT_EQ(st.class_mean_count[1], 4u);

  // Mean and population std per channel, from the pixels written.
  double sum[3] = {0, 0, 0}, sq[3] = {0, 0, 0};
  std::size_t pixels = 0;
  for (const auto& px : f.decoded)
    for (std::size_t i = 0; i < px.size(); i += 3, ++pixels)
      for (int c = 0; c < 3; ++c) {
        sum[c] += px[i + c] / 255.0;
        sq[c] += (px[i + c] / 255.0) * (px[i + c] / 255.0);
      }
  EXPECT_EQ(st.pixels, pixels);
  for (int c = 0; c < 3; ++c) {
    const double mean = sum[c] / pixels;
    EXPECT_NEAR(st.mean[c], mean, 1e-12);
    EXPECT_NEAR(st.std[c], std::sqrt(sq[c] / pixels - mean * mean), 1e-9);
  }

  // Exactly one exact pair (the copy) and one near pair (the +2 image); nothing else.
  const int dup_a = index_of(ds, "a/dup.png"), dup_b = index_of(ds, "b/dup.png");
  const int near_a = index_of(ds, "a/near0.png"), near_b = index_of(ds, "b/near1.png");
  EXPECT_EQ(st.exact_pairs, 1u);
  EXPECT_EQ(st.near_pairs, 1u);
  ASSERT_EQ(st.pairs.size(), 2u);
  EXPECT_TRUE(st.pairs[0].exact);
  EXPECT_EQ(st.pairs[0].a, dup_a);
  EXPECT_EQ(st.pairs[0].b, dup_b);
  EXPECT_EQ(st.pairs[0].distance, 0);
  EXPECT_FALSE(st.pairs[1].exact);
  EXPECT_EQ(st.pairs[1].a, near_a);
  EXPECT_EQ(st.pairs[1].b, near_b);
  EXPECT_EQ(st.pairs[1].distance, std::max(hamming_distance(st.images[near_a].dhash, st.images[near_b].dhash),
                                            hamming_distance(st.images[near_a].dhash_v, st.images[near_b].dhash_v)));
  EXPECT_LE(st.pairs[1].distance, 4);
  EXPECT_LE(st.pairs[1].difference, 0.005);  // +2/255 everywhere: removed with the mean, up to resize rounding
  EXPECT_EQ(st.hash_candidates, 1u);
  // A tolerance of 0 still keeps nothing but the near pair that is exactly equal after mean removal (none here).
  EdaStats strict;
  find_duplicates(st.images, 4, 0.0, 100, strict);
  EXPECT_EQ(strict.exact_pairs, 1u);
  EXPECT_EQ(strict.hash_candidates, 1u);
  EXPECT_LE(strict.near_pairs, 1u);

  // Same figures on one thread.
  options.threads = 1;
  Result<EdaStats> one = gather_eda(ds, options);
  ASSERT_TRUE(one.ok());
  for (int c = 0; c < 3; ++c) EXPECT_EQ(one.value().mean[c], st.mean[c]);

  // The report: both pairs have different labels; a split with the copies in train and test is a leak.
  ReportInput input;
  input.data = f.root.string();
  input.part.assign(ds.samples.size(), 0);
  input.part[dup_b] = 2;
  const fs::path out = f.root.parent_path() / "cellcam_test_eda_out";
  fs::remove_all(out);
  fs::create_directories(out);
  Result<ReportCounts> counts = write_eda_report(out.string(), ds, st, input);
  ASSERT_TRUE(counts.ok()) << counts.error().message;
  EXPECT_EQ(counts.value().different_label, 2u);
  EXPECT_EQ(counts.value().leaks, 1u);
  for (const char* name : {"report.md", "class_balance.png", "sizes.png", "class_means.png", "class_difference.png",
                           "samples.png", "duplicates.csv", "unreadable.csv"})
    EXPECT_TRUE(fs::exists(out / name)) << name;
  for (const char* name : {"class_balance.png", "sizes.png", "class_means.png", "class_difference.png", "samples.png"}) {
    Result<std::vector<std::uint8_t>> bytes = native::read_file((out / name).string());
    ASSERT_TRUE(bytes.ok());
    EXPECT_TRUE(native::decode_any(bytes.value().data(), bytes.value().size()).ok()) << name;
  }
  const std::string bad = native::read_text((out / "unreadable.csv").string()).value();
  EXPECT_NE(bad.find("broken.png"), std::string::npos);
  const std::string dups = native::read_text((out / "duplicates.csv").string()).value();
  EXPECT_NE(dups.find("exact,0,0.0000,"), std::string::npos);
  EXPECT_NE(dups.find("near0.png"), std::string::npos);
  const std::string md = native::read_text((out / "report.md").string()).value();
  EXPECT_NE(md.find(spec_line(st)), std::string::npos);
  fs::remove_all(out);
  fs::remove_all(f.root);
}

TEST(Eda, RunRefusesABadPathAndAnExistingReportWithoutForce) {
  Fixture f = make_dataset("cellcam_test_eda_run");
  const fs::path out = f.root.parent_path() / "cellcam_test_eda_run_out";
  fs::remove_all(out);
  EdaSettings s;
  s.data = (f.root / "no_such_folder").string();
  s.out = out.string();
  s.progress = false;
  EXPECT_EQ(run_eda(s), 1);
  s.data = f.root.string();
  EXPECT_EQ(run_eda(s), 0);
  EXPECT_TRUE(fs::exists(out / "report.md"));
  EXPECT_EQ(run_eda(s), 1);  // a report is there
  s.force = true;
  EXPECT_EQ(run_eda(s), 0);
  fs::remove_all(out);
  fs::remove_all(f.root);
}

}  // namespace
}  // namespace cellcam::eda
