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

// Number of differing bits, 0..64.
int hamming_distance(std::uint64_t a, std::uint64_t b);

}  // namespace cellcam::eda
