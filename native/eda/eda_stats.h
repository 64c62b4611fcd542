// eda_stats.h — what `cellcam eda` measures on a dataset: every image decoded once (on all cores), and
// from it the sizes, the per-channel mean and standard deviation, the mean image of each class, sample
// thumbnails, a SHA-256 of the file bytes and a perceptual hash; then exact and near duplicate pairs.
//
// Pure C++17, no LibTorch. No exception escapes: an unreadable image is a row (ImageInfo::error), never
// a failure; the one error is a caller's inconsistent options (kInvalidArgument).
// Mean and standard deviation are over all pixels of all readable images, each channel in [0,1] (gray
// images count as R = G = B, alpha is ignored). 8-bit images are counted in per-value histograms, so
// the figures do not depend on the thread count.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "cellcam/error.h"
#include "dataset.h"

namespace cellcam::eda {

struct EdaOptions {
  int threads = 0;           // 0: all cores
  int mean_size = 64;        // class mean images are mean_size x mean_size (every image stretched to it)
  int samples = 8;           // random sample thumbnails per class
  int thumb_size = 80;       // their side in pixels
  std::uint64_t seed = 42;   // which samples
  int near_threshold = 4;    // near duplicate: horizontal and vertical dHash distances <= this (not an exact duplicate)
  double near_tolerance = 0.01;  // ... and 16x16 gray thumbnails, each minus its mean, differ by <= this on average
  std::size_t max_pairs = 100000;  // duplicate pairs kept (all are counted)
  std::atomic<std::size_t>* progress = nullptr;  // when set, incremented once per image done
};

struct ImageInfo {
  bool ok = false;
  std::string error;  // when !ok: why it could not be read or decoded
  int width = 0, height = 0, channels = 0, bits = 0;
  std::uintmax_t file_bytes = 0;
  std::string sha256;        // of the file bytes (also for a file that does not decode)
  std::uint64_t dhash = 0;   // perceptual_hash.h: horizontal dHash
  std::uint64_t dhash_v = 0; // and vertical
  std::vector<float> gray16; // 16x16 gray in [0,1] minus its mean: confirms a near duplicate the hashes propose
};

struct DuplicatePair {
  int a = 0, b = 0;     // sample indices, a < b
  bool exact = false;   // same file bytes
  int distance = 0;     // dHash Hamming distance, the larger of horizontal and vertical (0..64)
  double difference = 0;  // mean absolute difference of the mean-removed 16x16 gray thumbnails (both readable)
};

struct EdaStats {
  std::vector<ImageInfo> images;  // one per Dataset::samples entry
  std::size_t readable = 0;

  // Per channel (R, G, B): pixel count, mean and population standard deviation over [0,1] values.
  std::uint64_t pixels = 0;
  double mean[3] = {0, 0, 0};
  double std[3] = {0, 0, 0};

  // Class means: per class, mean_size x mean_size x 3 floats in [0,1], (H,W,C); count = images averaged.
  int mean_size = 0;
  std::vector<std::vector<float>> class_mean;
  std::vector<std::size_t> class_mean_count;

  // Sample thumbnails: per class, up to `samples` (sample index, thumb_size^2 x 3 bytes; empty = unreadable).
  int thumb_size = 0;
  std::vector<std::vector<std::pair<int, std::vector<std::uint8_t>>>> thumbs;

  std::vector<DuplicatePair> pairs;  // exact first, then near by distance; at most max_pairs
  std::size_t exact_pairs = 0, near_pairs = 0;  // counted, even beyond max_pairs
  std::size_t hash_candidates = 0;  // pairs the hashes proposed (before the thumbnail check), exact ones excluded
  int near_threshold = 0;
  double near_tolerance = 0;
};

// Decodes every sample of `dataset` (native decoder: decode_any) and measures it.
Result<EdaStats> gather_eda(const data::Dataset& dataset, const EdaOptions& options);

// The duplicate pairs among `images` (exact: same SHA-256; near: readable, different SHA-256, horizontal and
// vertical dHash distances both <= threshold, thumbnail difference <= tolerance). Exposed for tests.
void find_duplicates(const std::vector<ImageInfo>& images, int near_threshold, double near_tolerance, std::size_t max_pairs,
                     EdaStats& stats);

}  // namespace cellcam::eda
