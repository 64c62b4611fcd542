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
  // No mmap()ed blocks at all: glibc caps the mmap threshold at 32 MiB, and a 96x96 batch of 64 has
  // 75 MB activations, which would still be mapped and faulted in every step. Freed memory is trimmed
  // only past 1 GiB at the top of the heap; 64 MiB of slack per heap growth.
  if (std::getenv("MALLOC_MMAP_MAX_") == nullptr) mallopt(M_MMAP_MAX, 0);
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

std::string first_line(const char* what) {
  std::string line = what ? what : "";
  line = line.substr(0, line.find('\n'));
  while (!line.empty() && (line.back() == ' ' || line.back() == '\r')) line.pop_back();
  return line.empty() ? "unknown error" : line;
}

std::string runtime_report() {
  const bool cuda = torch::cuda::is_available();
  std::string tiff = TIFFGetVersion();
  tiff = tiff.substr(0, tiff.find('\n'));
  return std::string("LibTorch ") + TORCH_VERSION + " (" + (cuda ? "CUDA available" : "CPU; CUDA not available") + "), " +
         std::to_string(at::get_num_threads()) + " threads\nONNX " + ONNX_NAMESPACE::LAST_RELEASE_VERSION + "\n" + tiff;
}

}  // namespace cellcam::native
