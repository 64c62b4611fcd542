// runtime.cpp — see runtime.h. Includes only LibTorch's light headers.
#include "runtime.h"

#include <ATen/Parallel.h>
#include <onnx/common/version.h>
#include <tiffio.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <cstdlib>
#include <string>
#include <thread>

namespace cellcam::native {

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
