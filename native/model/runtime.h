// runtime.h — the native build's heavy dependencies, configured and reported in one place.
// Keeps <torch/...> out of every other header (a LibTorch TU costs ~20 s to compile here).
#pragma once

#include <string>

namespace cellcam::native {

// LibTorch defaults to hardware_concurrency()/2 threads (1 on a 2-core machine): use `requested`
// when positive, else OMP_NUM_THREADS when set, else every core. Returns the thread count in effect.
int configure_torch_threads(int requested = 0);

// Keeps freed tensor memory in the heap instead of handing it back to the kernel. glibc serves blocks
// above its mmap threshold with fresh mmap()s and unmaps them on free, so every training step faulted
// its activations in again, page by page: on this (virtualised) machine that was 40% of the CPU time in
// the kernel and ran `cellcam train` at 43 images/s instead of 342 (malaria_bn_se, 64 px, 2 threads;
// same metrics). Setting MALLOC_MMAP_MAX_ / MALLOC_TRIM_THRESHOLD_ / MALLOC_TOP_PAD_ in the
// environment overrides it.
// Call once, first thing in main().
void configure_heap();

// The first line of an exception's message: LibTorch appends a C++ backtrace of 14-20 lines to what(),
// which a user should never see; the first line says what failed.
std::string first_line(const char* what);

// "LibTorch 1.13.1 (CPU ...), N threads; ONNX 1.12.0; libtiff 4.5.0" for `cellcam --version`.
std::string runtime_report();

}  // namespace cellcam::native
