// model_spec.h — a model described as data: classes, head, preprocessing and the layer table.
//
// The same JSON (model.json) drives the trainer (native/ builds torch modules from the layer table),
// the exporter and the page. This file knows nothing of LibTorch: it parses, validates, expands the
// named presets, and infers every layer's output shape and parameter count, so a bad architecture is
// refused with a message before any tensor exists.
//
//   {"name": "malaria", "classes": ["Parasitized", "Uninfected"], "head": "binary",
//    "preprocess": {...},                                   // spec.h
//    "architecture": {"preset": "malaria_bn_se"}            // or {"layers": [...]}, see LayerKind
//   }
// A binary head has one output (a logit, sigmoid); a multi-class head has one per class (softmax).
// The final dense layer to the outputs is implicit: the layer table ends at the features.
#pragma once

#include <string>
#include <vector>

#include "cellcam/error.h"
#include "cellcam/spec.h"

namespace cellcam {

enum class LayerKind {
  kConv,           // {"type":"conv","out":32,"kernel":3,"stride":1,"padding":"same"|N,"bias":true}
  kBatchNorm,      // {"type":"batch_norm"}        (2-D after conv, 1-D after dense)
  kRelu,           // {"type":"relu"}
  kLeakyRelu,      // {"type":"leaky_relu","slope":0.01}
  kSigmoid,        // {"type":"sigmoid"}
  kSwish,          // {"type":"swish"}             x * sigmoid(x) (Keras "swish", torch SiLU)
  kMaxPool,        // {"type":"max_pool","kernel":2,"stride":2}
  kAvgPool,        // {"type":"avg_pool","kernel":2,"stride":2}
  kGlobalAvgPool,  // {"type":"global_avg_pool"}   (N,C,H,W) -> (N,C)
  kFlatten,        // {"type":"flatten"}           (N,C,H,W) -> (N,C*H*W)
  kDense,          // {"type":"dense","out":256,"bias":true}
  kDropout,        // {"type":"dropout","p":0.5}
  kSqueezeExcite,  // {"type":"squeeze_excite","ratio":16}: x * sigmoid(W2 relu(W1 gap(x)))
  kResidual,       // {"type":"residual","layers":[...],"shortcut":[...]}: relu(body(x) + shortcut(x))
};

struct Layer {
  LayerKind kind = LayerKind::kRelu;
  std::string name;      // unique, e.g. "features.3" or "layer2.0.body.1"; how CAM layers are chosen
  int out = 0;           // conv/dense output channels
  int kernel = 1;        // conv/pool
  int stride = 1;        // conv/pool
  int padding = 0;       // conv (explicit; "same" resolved at parse time for odd kernels, stride 1)
  bool bias = true;      // conv/dense
  float slope = 0.01f;   // leaky_relu
  float p = 0.5f;        // dropout
  int ratio = 16;        // squeeze_excite
  float l1 = 0.0f;       // per-layer penalties on this layer's weights (conv/dense)
  float l2 = 0.0f;
  std::vector<Layer> body;      // residual
  std::vector<Layer> shortcut;  // residual (empty: identity)
};

enum class HeadKind { kBinary, kMulticlass };

struct ModelSpec {
  std::string name;
  std::string version = "0.1.0";
  std::vector<std::string> classes;
  HeadKind head = HeadKind::kBinary;
  PreprocessSpec preprocess;
  std::string preset;        // empty when the layers were given explicitly
  std::vector<Layer> layers;

  int outputs() const { return head == HeadKind::kBinary ? 1 : static_cast<int>(classes.size()); }
};

// One row per layer (depth first, residual bodies included) with its output shape.
struct LayerShape {
  std::string name;
  LayerKind kind;
  std::vector<int> shape;  // without the batch dimension: {C,H,W} or {F}
  long long parameters = 0;     // trainable (torch parameters())
  long long non_trainable = 0;  // batch norm's running mean and variance, which Keras counts in its total
};

Result<ModelSpec> parse_model_spec(const std::string& json_text);
std::string model_spec_to_json(const ModelSpec& spec);  // canonical, with the expanded layer table

// The named presets. The seeds' own networks, layer for layer: blog_cnn (the malaria blog's custom CNN),
// pcam_baseline (the PCam notebook's baseline, colour or gray from the preprocess block). Variants of
// our own: blog_cnn_bn, pcam_wide (the wider networks these two names stood for before), malaria_base,
// malaria_leaky_gap, malaria_bn_se, resnet18 (width from the "width" key of the architecture block,
// default 64). tests/unit/test_model_spec.cpp says where each seed figure comes from.
std::vector<std::string> preset_names();
Result<std::vector<Layer>> preset_layers(const std::string& preset, int width = 64);

// Shapes for an input of spec.preprocess's size; fails on a layer that cannot apply (a pool bigger
// than its input, a dense layer on a (C,H,W) tensor without flatten, ...). Last row = the features.
Result<std::vector<LayerShape>> infer_shapes(const ModelSpec& spec);
long long parameter_count(const std::vector<LayerShape>& shapes, const ModelSpec& spec);  // trainable, + the head
long long non_trainable_count(const std::vector<LayerShape>& shapes);                    // Keras total = both

const char* layer_kind_name(LayerKind kind);

}  // namespace cellcam
