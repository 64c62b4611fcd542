// runtime.h — the native build's heavy dependencies, configured and reported in one place.
// Keeps <torch/...> out of every other header (a LibTorch TU costs ~20 s to compile here).
#pragma once

#include <string>

namespace cellcam::native {

// LibTorch defaults to hardware_concurrency()/2 threads (1 on a 2-core machine): use `requested`
// when positive, else OMP_NUM_THREADS when set, else every core. Returns the thread count in effect.
int configure_torch_threads(int requested = 0);

// "LibTorch 1.13.1 (CPU ...), N threads; ONNX 1.12.0; libtiff 4.5.0" for `cellcam --version`.
std::string runtime_report();

}  // namespace cellcam::native
