// model_summary.h — a model spec as a Keras-like table: one row per layer (nested residual layers
// included) with its output shape and parameter count, the implicit head last, then the totals.
//
//   Layer (type)              Output Shape        Param #
//   features.0 (conv)         (32, 125, 125)      896
//   ...
//   Total params: 15,102,529  (Keras's total: trainable + batch norm's running statistics)
// Shapes are (C,H,W) without the batch dimension. Pure C++: the CLI prints it, the page could too.
#pragma once

#include <string>

#include "cellcam/error.h"
#include "cellcam/model_spec.h"

namespace cellcam {

Result<std::string> model_summary(const ModelSpec& spec);

// 15102529 -> "15,102,529"
std::string with_thousands(long long n);

}  // namespace cellcam
