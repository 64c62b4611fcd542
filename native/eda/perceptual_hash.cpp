// perceptual_hash.cpp — dHash (perceptual_hash.h): 9x8 gray through the shared resize, then one bit per
// horizontal neighbour pair.
#include "perceptual_hash.h"

#include <bitset>
#include <vector>

#include "cellcam/preprocess.h"

namespace cellcam::eda {

namespace {

// The image as gray (the mean of the canvas's channels), stretched to w x h with the shared resize.
// Returns (h,w) row-major.
Result<std::vector<float>> gray_grid(const Image& image, int w, int h) {
  PreprocessSpec spec;
  spec.width = w;
  spec.height = h;
  Result<Canvas> canvas = resize_to_canvas(image, spec);
  if (!canvas) return canvas.error();
  const Canvas& c = canvas.value();
  std::vector<float> gray(static_cast<std::size_t>(w) * h);
  for (std::size_t i = 0; i < gray.size(); ++i) {
    const float* p = c.data.data() + i * c.channels;
    float sum = 0.0f;
    for (int k = 0; k < c.channels; ++k) sum += p[k];
    gray[i] = sum / static_cast<float>(c.channels);
  }
  return gray;
}

}  // namespace

Result<std::uint64_t> difference_hash(const Image& image) {
  Result<std::vector<float>> g = gray_grid(image, 9, 8);  // (8,9)
  if (!g) return g.error();
  const std::vector<float>& gray = g.value();
  std::uint64_t hash = 0;
  for (int y = 0; y < 8; ++y)
    for (int x = 0; x < 8; ++x)
      if (gray[y * 9 + x] < gray[y * 9 + x + 1]) hash |= std::uint64_t{1} << (y * 8 + x);
  return hash;
}

Result<DHash2> difference_hashes(const Image& image) {
  Result<std::uint64_t> h = difference_hash(image);
  if (!h) return h.error();
  Result<std::vector<float>> g = gray_grid(image, 8, 9);  // (9,8)
  if (!g) return g.error();
  const std::vector<float>& gray = g.value();
  std::uint64_t v = 0;
  for (int y = 0; y < 8; ++y)
    for (int x = 0; x < 8; ++x)
      if (gray[y * 8 + x] < gray[(y + 1) * 8 + x]) v |= std::uint64_t{1} << (y * 8 + x);
  return DHash2{h.value(), v};
}

int hamming_distance(std::uint64_t a, std::uint64_t b) { return static_cast<int>(std::bitset<64>(a ^ b).count()); }

}  // namespace cellcam::eda
