// image_store.cpp — see image_store.h.
#include "image_store.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <random>

#include "decode_any.h"
#include "file_io.h"

namespace cellcam::train {

std::uint64_t sample_seed(std::uint64_t seed, int epoch, int sample) {
  // splitmix64 over the three numbers: cheap, well mixed, the same on every platform.
  std::uint64_t z = seed ^ (static_cast<std::uint64_t>(epoch) << 32) ^ static_cast<std::uint64_t>(sample) * 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

void shuffle_in_place(std::vector<int>& items, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  for (std::size_t i = items.size(); i > 1; --i) {
    // Unbiased draw in [0, i): rejection of the top sliver of the 64-bit range.
    const std::uint64_t limit = std::numeric_limits<std::uint64_t>::max() - std::numeric_limits<std::uint64_t>::max() % i;
    std::uint64_t r;
    do r = rng(); while (r >= limit);
    std::swap(items[i - 1], items[r % i]);
  }
}

// ---------------------------------------------------------------------------------------------
Result<Canvas> load_canvas(const std::string& path, const PreprocessSpec& spec) {
  Result<std::vector<std::uint8_t>> bytes = native::read_image_file(path);
  if (!bytes) return bytes.error();
  Result<Image> image = native::decode_any(bytes.value().data(), bytes.value().size());
  if (!image) return image.error();
  return resize_to_canvas(image.value(), spec);
}

Result<ImageStore> ImageStore::build(const data::Dataset& dataset, const std::vector<int>& samples,
                                     const PreprocessSpec& spec, int threads, std::size_t cache_bytes,
                                     std::vector<data::Skipped>* skipped) {
  ImageStore store;
  store.dataset_ = &dataset;
  store.spec_ = spec;
  const std::size_t per_image = static_cast<std::size_t>(spec.width) * spec.height * 3 * sizeof(float);
  store.cached_ = per_image * samples.size() <= cache_bytes;

  std::vector<std::optional<Canvas>> canvases(samples.size());
  std::vector<std::string> errors(samples.size());
  std::atomic<std::size_t> next{0};
  auto decode = [&] {
    for (std::size_t i = next++; i < samples.size(); i = next++) {
      Result<Canvas> canvas = load_canvas(dataset.samples[samples[i]].path, spec);
      if (!canvas) { errors[i] = canvas.error().message; continue; }
      if (store.cached_) canvases[i] = canvas.take();
      else canvases[i] = Canvas{};  // decodable: remembered as usable, decoded again when used
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(decode);
  decode();
  for (std::thread& t : pool) t.join();

  for (std::size_t i = 0; i < samples.size(); ++i) {
    if (!errors[i].empty()) {
      if (skipped) skipped->push_back({dataset.samples[samples[i]].path, errors[i]});
      continue;
    }
    store.usable_.push_back(samples[i]);
    if (store.cached_) store.cache_.emplace(samples[i], std::move(*canvases[i]));
  }
  if (store.usable_.empty() && !samples.empty())
    return make_error(ErrorCode::kInvalidArgument, "none of the " + std::to_string(samples.size()) + " images could be read");
  return store;
}

Result<Canvas> ImageStore::canvas(int sample) const {
  if (cached_) {
    auto it = cache_.find(sample);
    if (it == cache_.end()) return make_error(ErrorCode::kInvalidArgument, "sample " + std::to_string(sample) + " is not in the store");
    return it->second;
  }
  return load_canvas(dataset_->samples[sample].path, spec_);
}

// ---------------------------------------------------------------------------------------------
EpochLoader::EpochLoader(const ImageStore& store, std::vector<int> samples, const augment::AugmentSpec* augment,
                         const LoaderOptions& options, int epoch)
    : store_(store), order_(std::move(samples)), augment_(augment), options_(options), epoch_(epoch) {
  if (options_.shuffle) shuffle_in_place(order_, sample_seed(options_.seed, epoch_, -1));
  const int n = static_cast<int>(order_.size()), b = options_.batch_size > 0 ? options_.batch_size : 1;
  batch_count_ = options_.drop_last ? n / b : (n + b - 1) / b;
  const int workers = options_.workers > 0 ? options_.workers : 1;
  for (int w = 0; w < workers; ++w) workers_.emplace_back([this] { work(); });
}

EpochLoader::~EpochLoader() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (std::thread& t : workers_) t.join();
}

Batch EpochLoader::build(int batch_index) const {
  const PreprocessSpec& spec = store_.spec();
  const int b = options_.batch_size > 0 ? options_.batch_size : 1;
  const int begin = batch_index * b, end = std::min<int>(begin + b, static_cast<int>(order_.size()));
  Batch batch;
  batch.channels = spec.channels();
  batch.height = spec.height;
  batch.width = spec.width;
  const std::size_t per_image = static_cast<std::size_t>(batch.channels) * batch.height * batch.width;
  batch.images.reserve(per_image * (end - begin));
  for (int i = begin; i < end; ++i) {
    const int sample = order_[i];
    Result<Canvas> canvas = store_.canvas(sample);
    if (!canvas) continue;  // only possible without the cache, for a file changed since the store was built
    if (augment_) augment::apply(canvas.value(), *augment_, sample_seed(options_.seed, epoch_, sample));
    Result<Tensor> tensor = canvas_to_tensor(canvas.take(), spec);
    if (!tensor) continue;
    batch.images.insert(batch.images.end(), tensor.value().data.begin(), tensor.value().data.end());
    batch.labels.push_back(store_.dataset().samples[sample].label);
    batch.samples.push_back(sample);
  }
  batch.size = static_cast<int>(batch.labels.size());
  return batch;
}

void EpochLoader::work() {
  while (true) {
    const int index = next_to_build_++;
    if (index >= batch_count_) return;
    {
      // Bounded prefetch: wait until the consumer is within `prefetch` batches.
      std::unique_lock<std::mutex> lock(mutex_);
      cv_.wait(lock, [&] { return stopping_ || index < next_to_hand_out_ + std::max(1, options_.prefetch); });
      if (stopping_) return;
    }
    Batch batch = build(index);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ready_.emplace(index, std::move(batch));
    }
    cv_.notify_all();
  }
}

std::optional<Batch> EpochLoader::next() {
  if (next_to_hand_out_ >= batch_count_) return std::nullopt;
  const auto start = std::chrono::steady_clock::now();
  std::unique_lock<std::mutex> lock(mutex_);
  cv_.wait(lock, [&] { return ready_.count(next_to_hand_out_) > 0; });
  wait_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  Batch batch = std::move(ready_[next_to_hand_out_]);
  ready_.erase(next_to_hand_out_++);
  lock.unlock();
  cv_.notify_all();
  return batch;
}

}  // namespace cellcam::train
