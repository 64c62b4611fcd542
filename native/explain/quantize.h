// quantize.h — `cellcam export --quantize fp16|int8`: an exported graph's weights stored in fewer bits.
//
// Weight-only: every float initialiser of rank >= 2 (convolution kernels, dense and squeeze-excite
// matrices, the Grad-CAM seed) is stored smaller and turned back into float32 inside the graph, by the
// one node that now writes the initialiser's old name, so the forward convolutions and the hand-built
// Grad-CAM backward pass (ConvTranspose on the same kernels) read the same rounded weights. Activations
// and compute stay float32; biases, batch-norm vectors and shape constants stay as they were.
//   fp16  FLOAT16 initialiser + Cast(to=FLOAT)                      size ~1/2; ORT folds the Cast at load
//   int8  INT8 initialiser + Cast(to=FLOAT) + Mul by per-output-channel symmetric scales (C,1,...)
//         scale_c = max|w_c| / 127 (1 for an all-zero channel), q = round(w / scale_c) in [-127, 127];
//         size ~1/4. Not DequantizeLinear, though it computes the same q * scale: ONNX Runtime keeps a
//         DequantizeLinear of a constant unfolded (for its QDQ fusions), runs it on every call and then
//         cannot pre-pack the kernels (measured 1.5x slower, BENCHMARKS.md); Cast and Mul it folds at load.
// round_trip() is the same rounding on plain floats: the exporter applies it to the LibTorch weights
// (weights.pt) so that `cellcam eval|predict|gradcam` compute what the quantised graph computes. Rounding
// again what round_trip() returned changes nothing for int8 (up to a float ulp), also after batch-norm
// folding multiplies a channel by a constant; fp16 may move a folded weight by one half-precision step.
// No LibTorch here. Errors: bytes that are not an ONNX model, a graph the checker refuses.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cellcam/error.h"

namespace cellcam::explain {

enum class Quantize { kNone, kFp16, kInt8 };

// "none" | "fp16" | "int8".
Result<Quantize> parse_quantize(const std::string& name);
const char* quantize_name(Quantize mode);

// IEEE 754 binary16, round to nearest even (overflow to infinity, subnormals kept).
std::uint16_t float_to_half(float value);
float half_to_float(std::uint16_t bits);

// Per-channel symmetric int8 of `values` seen as (channels, values.size() / channels), row-major.
struct Int8Tensor {
  std::vector<std::int8_t> q;
  std::vector<float> scales;  // one per channel
};
Int8Tensor quantize_int8(const std::vector<float>& values, std::int64_t channels);
std::vector<float> dequantize_int8(const Int8Tensor& t);

// `values` (channels first) rounded as `mode` stores them and read back as float32; kNone: unchanged.
std::vector<float> round_trip(const std::vector<float>& values, std::int64_t channels, Quantize mode);

struct QuantizedGraph {
  std::string bytes;            // the new model
  int tensors = 0;              // initialisers stored smaller
  long long weight_bytes_before = 0, weight_bytes_after = 0;  // of those initialisers (int8: with scales)
};

// The serialised model `bytes` with every float initialiser of rank >= 2 stored as `mode` says; checked
// and shape-inferred again. kNone returns the bytes unchanged.
Result<QuantizedGraph> quantize_graph(const std::string& bytes, Quantize mode);

}  // namespace cellcam::explain
