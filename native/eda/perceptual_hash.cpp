// perceptual_hash.cpp — dHash (perceptual_hash.h): 9x8 gray through the shared resize, then one bit per
// horizontal neighbour pair.
#include "perceptual_hash.h"

#include <bitset>

#include "cellcam/preprocess.h"

namespace cellcam::eda {

Result<std::uint64_t> difference_hash(const Image& image) {
  PreprocessSpec spec;
  spec.width = 9;
  spec.height = 8;
  Result<Canvas> canvas = resize_to_canvas(image, spec);
  if (!canvas) return canvas.error();
  const Canvas& c = canvas.value();
  float gray[8][9];
  for (int y = 0; y < 8; ++y)
    for (int x = 0; x < 9; ++x) {
      const float* p = c.data.data() + (static_cast<std::size_t>(y) * c.width + x) * c.channels;
      float sum = 0.0f;
      for (int k = 0; k < c.channels; ++k) sum += p[k];
      gray[y][x] = sum / static_cast<float>(c.channels);
    }
  std::uint64_t hash = 0;
  for (int y = 0; y < 8; ++y)
    for (int x = 0; x < 8; ++x)
      if (gray[y][x] < gray[y][x + 1]) hash |= std::uint64_t{1} << (y * 8 + x);
  return hash;
}

Result<DHash2> difference_hashes(const Image& image) {
  Result<std::uint64_t> h = difference_hash(image);
  if (!h) return h.error();
  PreprocessSpec spec;
  spec.width = 8;
  spec.height = 9;
  Result<Canvas> canvas = resize_to_canvas(image, spec);
  if (!canvas) return canvas.error();
  const Canvas& c = canvas.value();
  float gray[9][8];
  for (int y = 0; y < 9; ++y)
    for (int x = 0; x < 8; ++x) {
      const float* p = c.data.data() + (static_cast<std::size_t>(y) * c.width + x) * c.channels;
      float sum = 0.0f;
      for (int k = 0; k < c.channels; ++k) sum += p[k];
      gray[y][x] = sum / static_cast<float>(c.channels);
    }
  std::uint64_t v = 0;
  for (int y = 0; y < 8; ++y)
    for (int x = 0; x < 8; ++x)
      if (gray[y][x] < gray[y + 1][x]) v |= std::uint64_t{1} << (y * 8 + x);
  return DHash2{h.value(), v};
}

int hamming_distance(std::uint64_t a, std::uint64_t b) { return static_cast<int>(std::bitset<64>(a ^ b).count()); }

}  // namespace cellcam::eda
