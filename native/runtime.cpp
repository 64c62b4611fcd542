// runtime.cpp — see runtime.h. Includes only LibTorch's light headers.
#include "runtime.h"

#include <ATen/Parallel.h>
#include <onnx/common/version.h>
#include <tiffio.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <malloc.h>

#include <cstdlib>
#include <string>
#include <thread>

namespace cellcam::native {

void configure_heap() {
#if defined(__GLIBC__)
  // The largest mmap threshold glibc accepts on 64-bit (bigger blocks, e.g. a whole dataset cache, are
  // still mapped); trimming only past 1 GiB of free heap; and 64 MiB of slack per heap growth.
  if (std::getenv("MALLOC_MMAP_THRESHOLD_") == nullptr) mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
  if (std::getenv("MALLOC_TRIM_THRESHOLD_") == nullptr) mallopt(M_TRIM_THRESHOLD, 1024 * 1024 * 1024);
  if (std::getenv("MALLOC_TOP_PAD_") == nullptr) mallopt(M_TOP_PAD, 64 * 1024 * 1024);
#endif
}

int configure_torch_threads(int requested) {
  int threads = static_cast<int>(std::thread::hardware_concurrency());
  if (requested > 0) {
    threads = requested;
  } else if (const char* env = std::getenv("OMP_NUM_THREADS")) {
    const int n = std::atoi(env);
    if (n > 0) threads = n;
  }
  if (threads < 1) threads = 1;
  at::set_num_threads(threads);
  return at::get_num_threads();
}

std::string runtime_report() {
  const bool cuda = torch::cuda::is_available();
  std::string tiff = TIFFGetVersion();
  tiff = tiff.substr(0, tiff.find('\n'));
  return std::string("LibTorch ") + TORCH_VERSION + " (" + (cuda ? "CUDA available" : "CPU; CUDA not available") + "), " +
         std::to_string(at::get_num_threads()) + " threads\nONNX " + ONNX_NAMESPACE::LAST_RELEASE_VERSION + "\n" + tiff;
}

}  // namespace cellcam::native
