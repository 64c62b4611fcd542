// quantize_model.h — the LibTorch half of `cellcam export --quantize fp16|int8` (quantize.h has the graph).
//
// round_network_weights() rounds every parameter of rank >= 2 (convolution kernels, dense and
// squeeze-excite matrices) as the quantised graph stores it, in place: weights.pt then holds exactly the
// weights model.onnx computes with, so `cellcam eval|predict|gradcam` on the exported folder measure what
// the page runs. measure_quantization() scores the network on the validation and test parts before and
// after that rounding (plain forward, no TTA), for model.json's "quantization" block and the card.
// Includes LibTorch: only for translation units that already need it.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cellcam/error.h"
#include "quantize.h"
#include "trained_model.h"

namespace cellcam::explain {

void round_network_weights(native::Network& net, Quantize mode);

// Where the held-out images come from: a run folder's own data and split.csv (data and split empty), or,
// for an exported model folder (which keeps no split), `data` and the split file `split` (`cellcam split`).
struct QuantizeData {
  std::string run;
  std::string data;
  std::string split;
};

// Rounds r.net's weights as `mode` says; with held-out data, scores it before and after. The JSON:
// {"mode", "scheme", "parts": [{"part", "images", "before": {...}, "after": {...}, "decisions_changed",
// "max_abs_prob_diff"}], "note"}. Errors: unreadable data or split; a model folder given data without split.
Result<nlohmann::json> quantize_and_measure(train::LoadedRun& r, Quantize mode, const QuantizeData& where);

// The card's "Quantisation" section from that block and the graph sizes.
std::string quantization_card(const nlohmann::json& block);

}  // namespace cellcam::explain
