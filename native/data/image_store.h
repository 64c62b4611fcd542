// image_store.h — the data pipeline of training and scoring, without LibTorch: decode once, keep the
// resized images in RAM when they fit, then per epoch shuffle, augment and normalise on worker threads
// while the training step runs, handing out batches in a fixed order.
//
// Determinism: the order of an epoch comes from (seed, epoch) and each sample's augmentation from
// (seed, epoch, sample), so batches are identical whatever the number of worker threads.
// Unreadable files are found when the store is built and reported (file, reason); they never reach
// a batch, and never stop training.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "augment.h"
#include "cellcam/error.h"
#include "cellcam/preprocess.h"
#include "dataset.h"

namespace cellcam::train {

struct Batch {
  int size = 0;
  int channels = 0, height = 0, width = 0;
  std::vector<float> images;  // (N,C,H,W)
  std::vector<int> labels;    // (N)
  std::vector<int> samples;   // (N) indices into the Dataset
};

// One file on the model's canvas: read -> decode -> resize_to_canvas. What the store caches, and what
// anything else that needs training images before the store exists (e.g. --stain-norm) reads.
Result<Canvas> load_canvas(const std::string& path, const PreprocessSpec& spec);

// Decoded, resized images (resize_to_canvas) of a dataset's samples.
class ImageStore {
 public:
  // Decodes `samples` on `threads` threads. Keeps the canvases when they fit in `cache_bytes`,
  // otherwise decodes again on every use. Files that fail go to `skipped`, the rest to usable().
  static Result<ImageStore> build(const data::Dataset& dataset, const std::vector<int>& samples,
                                  const PreprocessSpec& spec, int threads, std::size_t cache_bytes,
                                  std::vector<data::Skipped>* skipped);

  Result<Canvas> canvas(int sample) const;  // (H,W,C) in [0,1]
  const std::vector<int>& usable() const { return usable_; }
  bool cached() const { return cached_; }
  const data::Dataset& dataset() const { return *dataset_; }
  const PreprocessSpec& spec() const { return spec_; }

 private:
  const data::Dataset* dataset_ = nullptr;
  PreprocessSpec spec_;
  bool cached_ = false;
  std::vector<int> usable_;
  std::map<int, Canvas> cache_;
};

struct LoaderOptions {
  int batch_size = 64;
  int workers = 1;        // threads preparing batches (LibTorch's own threads compute meanwhile)
  int prefetch = 4;       // batches prepared ahead
  bool shuffle = true;
  bool drop_last = false;
  std::uint64_t seed = 42;
};

// Seed of one sample's augmentation in one epoch.
std::uint64_t sample_seed(std::uint64_t seed, int epoch, int sample);
// Deterministic permutation of `items` (Fisher–Yates with std::mt19937_64, no std::shuffle).
void shuffle_in_place(std::vector<int>& items, std::uint64_t seed);

// One pass over `samples`: next() returns the batches in order, then nullopt. Workers start at
// construction and are joined by the destructor (also when the pass is abandoned early).
class EpochLoader {
 public:
  EpochLoader(const ImageStore& store, std::vector<int> samples, const augment::AugmentSpec* augment,
              const LoaderOptions& options, int epoch);
  ~EpochLoader();
  EpochLoader(const EpochLoader&) = delete;
  EpochLoader& operator=(const EpochLoader&) = delete;

  std::optional<Batch> next();
  int batches() const { return batch_count_; }
  double wait_seconds() const { return wait_seconds_; }  // time next() spent blocked on workers

 private:
  void work();
  Batch build(int batch_index) const;

  const ImageStore& store_;
  std::vector<int> order_;
  const augment::AugmentSpec* augment_;
  LoaderOptions options_;
  int epoch_;
  int batch_count_ = 0;
  std::atomic<int> next_to_build_{0};
  int next_to_hand_out_ = 0;
  std::map<int, Batch> ready_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stopping_ = false;
  double wait_seconds_ = 0.0;
  std::vector<std::thread> workers_;
};

}  // namespace cellcam::train
