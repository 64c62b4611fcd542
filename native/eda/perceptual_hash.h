// perceptual_hash.h — a 64-bit difference hash (dHash) of an image, for finding near duplicates.
//
// dHash: the image is turned to gray (the mean of its colour channels, alpha dropped), resized to 9x8
// with the shared resize (preprocess.h, triangle filter, stretch), and bit (y*8 + x) is set when pixel
// (x, y) is darker than its right neighbour (x+1, y). Two images whose hashes differ in few bits
// (hamming_distance) look alike at thumbnail scale: a re-encode, a brightness shift, a small rescale.
// A uniform brightness shift leaves the hash as it is (only differences between neighbours count);
// flat images all hash to 0, so they all match each other.
#pragma once

#include <cstdint>

#include "cellcam/error.h"
#include "cellcam/image.h"

namespace cellcam::eda {

Result<std::uint64_t> difference_hash(const Image& image);

// Both directions: `horizontal` is difference_hash(); `vertical` is the same on the image turned a quarter
// (8x9 gray, bit (y*8 + x) set when pixel (x, y) is darker than (x, y+1)). Near duplicates need both close:
// one direction alone matches many round cells on a dark background (measured on malaria).
struct DHash2 {
  std::uint64_t horizontal = 0;
  std::uint64_t vertical = 0;
};
Result<DHash2> difference_hashes(const Image& image);

// Number of differing bits, 0..64.
int hamming_distance(std::uint64_t a, std::uint64_t b);

}  // namespace cellcam::eda
