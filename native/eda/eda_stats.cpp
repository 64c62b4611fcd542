// eda_stats.cpp — gather_eda (eda_stats.h): a work queue of sample indices shared by `threads` workers,
// each with its own accumulators (channel histograms and sums, class mean sums), merged at the end.
#include "eda_stats.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "cellcam/preprocess.h"
#include "decode_any.h"
#include "file_io.h"
#include "perceptual_hash.h"
#include "sha256.h"

namespace cellcam::eda {
namespace {

// ---- per-thread accumulators -------------------------------------------------------------------------

struct Accumulator {
  std::uint64_t hist8[3][256] = {};  // 8-bit images: counts per channel value
  double sum16[3] = {0, 0, 0};       // 16-bit images: sums of [0,1] values and of their squares
  double sq16[3] = {0, 0, 0};
  std::uint64_t pixels = 0;
  std::vector<std::vector<double>> class_sum;  // per class, mean_size^2 x 3
  std::vector<std::size_t> class_count;
};

void add_pixels(const Image& img, Accumulator& acc) {
  const int cc = img.color_channels();
  const std::size_t n = static_cast<std::size_t>(img.width) * img.height;
  acc.pixels += n;
  if (img.bits == 8) {
    const std::uint8_t* s = img.samples.data();
    for (std::size_t i = 0; i < n; ++i, s += img.channels)
      for (int c = 0; c < 3; ++c) ++acc.hist8[c][s[cc == 3 ? c : 0]];
    return;
  }
  for (std::size_t i = 0; i < n; ++i)
    for (int c = 0; c < 3; ++c) {
      std::uint16_t v;
      std::memcpy(&v, img.samples.data() + 2 * (i * img.channels + (cc == 3 ? c : 0)), 2);
      const double x = v / 65535.0;
      acc.sum16[c] += x;
      acc.sq16[c] += x * x;
    }
}

// The image stretched to size x size, 3 channels in [0,1] (gray replicated).
Result<std::vector<float>> rgb_canvas(const Image& img, int size) {
  PreprocessSpec spec;
  spec.width = size;
  spec.height = size;
  Result<Canvas> canvas = resize_to_canvas(img, spec);
  if (!canvas) return canvas.error();
  const Canvas& c = canvas.value();
  std::vector<float> out(static_cast<std::size_t>(size) * size * 3);
  for (std::size_t i = 0; i < static_cast<std::size_t>(size) * size; ++i)
    for (int k = 0; k < 3; ++k) out[i * 3 + k] = c.data[i * c.channels + (c.channels == 3 ? k : 0)];
  return out;
}

std::vector<std::uint8_t> to_bytes(const std::vector<float>& v) {
  std::vector<std::uint8_t> out(v.size());
  for (std::size_t i = 0; i < v.size(); ++i)
    out[i] = static_cast<std::uint8_t>(std::lround(std::clamp(v[i], 0.0f, 1.0f) * 255.0f));
  return out;
}

// Our own Fisher-Yates (std::shuffle is implementation-defined), as split.cpp does.
void shuffle(std::vector<int>& v, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[rng() % i]);
}

int distance(const ImageInfo& a, const ImageInfo& b) {
  return std::max(hamming_distance(a.dhash, b.dhash), hamming_distance(a.dhash_v, b.dhash_v));
}

double thumb_difference(const ImageInfo& a, const ImageInfo& b) {
  if (a.gray16.empty() || a.gray16.size() != b.gray16.size()) return 0.0;
  double sum = 0;
  for (std::size_t i = 0; i < a.gray16.size(); ++i) sum += std::fabs(static_cast<double>(a.gray16[i]) - b.gray16[i]);
  return sum / static_cast<double>(a.gray16.size());
}

}  // namespace

// ---- duplicates ----------------------------------------------------------------------------------------

void find_duplicates(const std::vector<ImageInfo>& images, int near_threshold, double near_tolerance, std::size_t max_pairs,
                     EdaStats& stats) {
  stats.pairs.clear();
  stats.exact_pairs = stats.near_pairs = stats.hash_candidates = 0;
  stats.near_threshold = near_threshold;
  stats.near_tolerance = near_tolerance;
  std::map<std::string, std::vector<int>> by_hash;
  for (std::size_t i = 0; i < images.size(); ++i)
    if (!images[i].sha256.empty()) by_hash[images[i].sha256].push_back(static_cast<int>(i));
  std::vector<DuplicatePair> exact;
  for (const auto& [hash, idx] : by_hash)
    for (std::size_t i = 0; i < idx.size(); ++i)
      for (std::size_t j = i + 1; j < idx.size(); ++j) {
        ++stats.exact_pairs;
        if (exact.size() < max_pairs)
          exact.push_back({idx[i], idx[j], true, distance(images[idx[i]], images[idx[j]]),
                           thumb_difference(images[idx[i]], images[idx[j]])});
      }
  std::sort(exact.begin(), exact.end(), [](const DuplicatePair& x, const DuplicatePair& y) {
    return x.a != y.a ? x.a < y.a : x.b < y.b;
  });
  std::vector<DuplicatePair> near;
  std::vector<int> ok;
  for (std::size_t i = 0; i < images.size(); ++i)
    if (images[i].ok) ok.push_back(static_cast<int>(i));
  for (std::size_t i = 0; i < ok.size(); ++i) {
    const ImageInfo& x = images[ok[i]];
    for (std::size_t j = i + 1; j < ok.size(); ++j) {
      const ImageInfo& y = images[ok[j]];
      if (hamming_distance(x.dhash, y.dhash) > near_threshold) continue;
      const int d = distance(x, y);
      if (d > near_threshold || x.sha256 == y.sha256) continue;
      ++stats.hash_candidates;
      const double diff = thumb_difference(x, y);
      if (diff > near_tolerance) continue;
      ++stats.near_pairs;
      if (exact.size() + near.size() < max_pairs) near.push_back({ok[i], ok[j], false, d, diff});
    }
  }
  std::stable_sort(near.begin(), near.end(),
                   [](const DuplicatePair& x, const DuplicatePair& y) { return x.distance < y.distance; });
  stats.pairs = std::move(exact);
  stats.pairs.insert(stats.pairs.end(), near.begin(), near.end());
}

// ---- gathering -----------------------------------------------------------------------------------------

Result<EdaStats> gather_eda(const data::Dataset& dataset, const EdaOptions& options) {
  if (options.mean_size < 4 || options.mean_size > 512 || options.thumb_size < 8 || options.thumb_size > 512 ||
      options.samples < 0 || options.near_threshold < 0 || options.near_threshold > 64 || !(options.near_tolerance >= 0) || options.threads < 0)
    return make_error(ErrorCode::kInvalidArgument, "eda options out of range");
  const std::size_t n = dataset.samples.size();
  const std::size_t k = dataset.classes.size();
  EdaStats stats;
  stats.images.resize(n);
  stats.mean_size = options.mean_size;
  stats.thumb_size = options.thumb_size;

  // Which samples get a thumbnail: the first `samples` of each class after a seeded shuffle.
  std::vector<int> thumb_slot(n, -1);
  stats.thumbs.resize(k);
  {
    std::vector<std::vector<int>> per_class(k);
    for (std::size_t i = 0; i < n; ++i) per_class[dataset.samples[i].label].push_back(static_cast<int>(i));
    for (std::size_t c = 0; c < k; ++c) {
      shuffle(per_class[c], options.seed + c);
      const std::size_t m = std::min<std::size_t>(per_class[c].size(), options.samples);
      per_class[c].resize(m);
      std::sort(per_class[c].begin(), per_class[c].end());
      for (std::size_t j = 0; j < m; ++j) {
        thumb_slot[per_class[c][j]] = static_cast<int>(j);
        stats.thumbs[c].push_back({per_class[c][j], {}});
      }
    }
  }

  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  const std::size_t workers =
      std::max<std::size_t>(1, std::min<std::size_t>(options.threads == 0 ? cores : options.threads, std::max<std::size_t>(n, 1)));
  std::vector<Accumulator> acc(workers);
  const std::size_t plane = static_cast<std::size_t>(options.mean_size) * options.mean_size * 3;
  for (Accumulator& a : acc) {
    a.class_sum.assign(k, std::vector<double>(plane, 0.0));
    a.class_count.assign(k, 0);
  }
  std::atomic<std::size_t> next{0};
  auto work = [&](Accumulator& a) {
    for (std::size_t i = next++; i < n; i = next++) {
      ImageInfo& info = stats.images[i];
      const data::Sample& s = dataset.samples[i];
      Result<std::vector<std::uint8_t>> bytes = native::read_image_file(s.path);
      if (!bytes) {
        info.error = bytes.error().message;
      } else {
        const std::vector<std::uint8_t>& b = bytes.value();
        info.file_bytes = b.size();
        info.sha256 = native::sha256_hex(std::string(b.begin(), b.end()));
        Result<Image> img = native::decode_any(b.data(), b.size());
        Result<DHash2> hash = img ? difference_hashes(img.value()) : Result<DHash2>(img.error());
        Result<std::vector<float>> mean = hash ? rgb_canvas(img.value(), options.mean_size)
                                               : Result<std::vector<float>>(hash.error());
        if (!mean) {
          info.error = error_code_name(mean.error().code) + std::string(": ") + mean.error().message;
        } else {
          const Image& im = img.value();
          info.ok = true;
          info.width = im.width;
          info.height = im.height;
          info.channels = im.channels;
          info.bits = im.bits;
          info.dhash = hash.value().horizontal;
          info.dhash_v = hash.value().vertical;
          Result<std::vector<float>> g = rgb_canvas(im, 16);
          if (g) {
            const std::vector<float>& v = g.value();
            info.gray16.resize(256);
            double mean = 0;
            for (int j = 0; j < 256; ++j) mean += info.gray16[j] = (v[3 * j] + v[3 * j + 1] + v[3 * j + 2]) / 3.0f;
            mean /= 256.0;
            for (float& x : info.gray16) x = static_cast<float>(x - mean);
          }
          add_pixels(im, a);
          std::vector<double>& sum = a.class_sum[s.label];
          const std::vector<float>& m = mean.value();
          for (std::size_t j = 0; j < plane; ++j) sum[j] += m[j];
          ++a.class_count[s.label];
          if (thumb_slot[i] >= 0) {
            Result<std::vector<float>> t = rgb_canvas(im, options.thumb_size);
            if (t) stats.thumbs[s.label][thumb_slot[i]].second = to_bytes(t.value());
          }
        }
      }
      if (options.progress) ++*options.progress;
    }
  };
  std::vector<std::thread> threads;
  for (std::size_t t = 1; t < workers; ++t) threads.emplace_back(work, std::ref(acc[t]));
  work(acc[0]);
  for (std::thread& t : threads) t.join();

  // ---- merge ----
  Accumulator total;
  total.class_sum.assign(k, std::vector<double>(plane, 0.0));
  total.class_count.assign(k, 0);
  for (const Accumulator& a : acc) {
    for (int c = 0; c < 3; ++c) {
      for (int v = 0; v < 256; ++v) total.hist8[c][v] += a.hist8[c][v];
      total.sum16[c] += a.sum16[c];
      total.sq16[c] += a.sq16[c];
    }
    total.pixels += a.pixels;
    for (std::size_t c = 0; c < k; ++c) {
      for (std::size_t j = 0; j < plane; ++j) total.class_sum[c][j] += a.class_sum[c][j];
      total.class_count[c] += a.class_count[c];
    }
  }
  for (const ImageInfo& info : stats.images) stats.readable += info.ok ? 1 : 0;
  stats.pixels = total.pixels;
  for (int c = 0; c < 3; ++c) {
    double sum = total.sum16[c], sq = total.sq16[c];
    for (int v = 0; v < 256; ++v) {
      const double x = v / 255.0;
      sum += x * static_cast<double>(total.hist8[c][v]);
      sq += x * x * static_cast<double>(total.hist8[c][v]);
    }
    if (total.pixels > 0) {
      stats.mean[c] = sum / static_cast<double>(total.pixels);
      stats.std[c] = std::sqrt(std::max(0.0, sq / static_cast<double>(total.pixels) - stats.mean[c] * stats.mean[c]));
    }
  }
  stats.class_mean.assign(k, std::vector<float>(plane, 0.0f));
  stats.class_mean_count = total.class_count;
  for (std::size_t c = 0; c < k; ++c)
    if (total.class_count[c] > 0)
      for (std::size_t j = 0; j < plane; ++j)
        stats.class_mean[c][j] = static_cast<float>(total.class_sum[c][j] / static_cast<double>(total.class_count[c]));

  find_duplicates(stats.images, options.near_threshold, options.near_tolerance, options.max_pairs, stats);
  return stats;
}

}  // namespace cellcam::eda
