// model_summary.cpp — the layer table of model_summary.h.
#include "cellcam/model_summary.h"

#include <cstdio>

namespace cellcam {
namespace {

std::string shape_text(const std::vector<int>& shape) {
  std::string s = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + ")";
}

std::string row(const std::string& layer, const std::string& shape, const std::string& params) {
  char line[160];
  std::snprintf(line, sizeof line, "%-32s %-20s %s\n", layer.c_str(), shape.c_str(), params.c_str());
  return line;
}

}  // namespace

std::string with_thousands(long long n) {
  std::string digits = std::to_string(n < 0 ? -n : n), out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return (n < 0 ? "-" : "") + out;
}

Result<std::string> model_summary(const ModelSpec& spec) {
  Result<std::vector<LayerShape>> shapes = infer_shapes(spec);
  if (!shapes) return shapes.error();
  const std::vector<LayerShape>& rows = shapes.value();
  const std::string rule(64, '='), thin(64, '_');
  std::string out = "Model: \"" + spec.name + "\"" + (spec.preset.empty() ? "" : " (preset " + spec.preset + ")") + "\n";
  out += thin + "\n" + row("Layer (type)", "Output Shape", "Param #") + rule + "\n";
  out += row("input", shape_text({spec.preprocess.channels(), spec.preprocess.height, spec.preprocess.width}), "0");
  for (const LayerShape& s : rows)
    out += row(s.name + " (" + layer_kind_name(s.kind) + ")", shape_text(s.shape), with_thousands(s.parameters + s.non_trainable));
  const long long trainable = parameter_count(rows, spec), frozen = non_trainable_count(rows);
  const long long head = static_cast<long long>(rows.back().shape[0] + 1) * spec.outputs();  // weights + biases
  out += row(std::string("head (dense, ") + (spec.head == HeadKind::kBinary ? "sigmoid" : "softmax") + ")",
             shape_text({spec.outputs()}), with_thousands(head));
  out += rule + "\n";
  out += "Total params: " + with_thousands(trainable + frozen) + "\n";
  out += "Trainable params: " + with_thousands(trainable) + "\n";
  out += "Non-trainable params: " + with_thousands(frozen) + "\n";
  return out + thin + "\n";
}

}  // namespace cellcam
