// npy_writer.h — tensors as NumPy .npy v1.0 files: little-endian float32, C order, written atomically.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "cellcam/error.h"
#include "cellcam/preprocess.h"

namespace cellcam::native {

// Shape (C,H,W).
Result<bool> write_npy(const std::string& path, const Tensor& tensor);
// Any shape, e.g. (N,C,h,w); `count` floats.
Result<bool> write_npy(const std::string& path, const std::vector<int>& shape, const float* data, std::size_t count);

}  // namespace cellcam::native
