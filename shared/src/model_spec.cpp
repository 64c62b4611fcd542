// model_spec.cpp — parse, validate, expand presets and infer shapes (see model_spec.h).
#include "cellcam/model_spec.h"

#include <nlohmann/json.hpp>

#include <set>

namespace cellcam {
namespace {

using nlohmann::json;

Error spec_error(const std::string& message) { return make_error(ErrorCode::kInvalidSpec, "model spec: " + message); }

const std::pair<const char*, LayerKind> kKinds[] = {
    {"conv", LayerKind::kConv},         {"batch_norm", LayerKind::kBatchNorm},
    {"relu", LayerKind::kRelu},         {"leaky_relu", LayerKind::kLeakyRelu},
    {"sigmoid", LayerKind::kSigmoid},   {"swish", LayerKind::kSwish},
    {"max_pool", LayerKind::kMaxPool},  {"avg_pool", LayerKind::kAvgPool},
    {"global_avg_pool", LayerKind::kGlobalAvgPool}, {"flatten", LayerKind::kFlatten},
    {"dense", LayerKind::kDense},       {"dropout", LayerKind::kDropout},
    {"squeeze_excite", LayerKind::kSqueezeExcite},  {"residual", LayerKind::kResidual}};

// ---- builders used by the presets
Layer conv(int out, int kernel = 3, int stride = 1) {
  Layer l;
  l.kind = LayerKind::kConv;
  l.out = out;
  l.kernel = kernel;
  l.stride = stride;
  l.padding = kernel / 2;
  return l;
}
Layer simple(LayerKind kind) {
  Layer l;
  l.kind = kind;
  return l;
}
Layer pool(LayerKind kind, int kernel = 2) {
  Layer l = simple(kind);
  l.kernel = kernel;
  l.stride = kernel;
  return l;
}
Layer dense(int out) {
  Layer l = simple(LayerKind::kDense);
  l.out = out;
  return l;
}
Layer dropout(float p) {
  Layer l = simple(LayerKind::kDropout);
  l.p = p;
  return l;
}
Layer leaky(float slope = 0.1f) {
  Layer l = simple(LayerKind::kLeakyRelu);
  l.slope = slope;
  return l;
}
Layer squeeze_excite(int ratio = 8) {
  Layer l = simple(LayerKind::kSqueezeExcite);
  l.ratio = ratio;
  return l;
}

// ResNet basic block: relu(bn(conv(relu(bn(conv(x))))) + shortcut(x)).
Layer basic_block(int in, int out, int stride) {
  Layer r = simple(LayerKind::kResidual);
  Layer first = conv(out, 3, stride), second = conv(out, 3, 1);
  first.bias = second.bias = false;  // batch norm follows
  r.body = {first, simple(LayerKind::kBatchNorm), simple(LayerKind::kRelu), second, simple(LayerKind::kBatchNorm)};
  if (stride != 1 || in != out) {
    Layer projection = conv(out, 1, stride);
    projection.bias = false;
    r.shortcut = {projection, simple(LayerKind::kBatchNorm)};
  }
  return r;
}

void name_layers(std::vector<Layer>& layers, const std::string& prefix) {
  for (std::size_t i = 0; i < layers.size(); ++i) {
    layers[i].name = prefix + "." + std::to_string(i);
    name_layers(layers[i].body, layers[i].name + ".body");
    name_layers(layers[i].shortcut, layers[i].name + ".shortcut");
  }
}

// ---- JSON -> Layer
Result<Layer> parse_layer(const json& j, const std::string& where);

Result<std::vector<Layer>> parse_layers(const json& j, const std::string& where) {
  if (!j.is_array()) return spec_error(where + " must be an array of layers");
  std::vector<Layer> out;
  for (std::size_t i = 0; i < j.size(); ++i) {
    Result<Layer> l = parse_layer(j[i], where + "[" + std::to_string(i) + "]");
    if (!l) return l.error();
    out.push_back(l.take());
  }
  return out;
}

Result<Layer> parse_layer(const json& j, const std::string& where) {
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string()) return spec_error(where + " needs a \"type\"");
  const std::string type = j["type"].get<std::string>();
  Layer l;
  bool known = false;
  for (const auto& [name, kind] : kKinds)
    if (type == name) { l.kind = kind; known = true; }
  if (!known) return spec_error(where + ": unknown layer type \"" + type + "\"");
  static const std::set<std::string> kKeys = {"type", "name", "out", "kernel", "stride", "padding", "bias", "slope",
                                              "p", "ratio", "l1", "l2", "layers", "shortcut"};
  for (const auto& item : j.items())
    if (!kKeys.count(item.key())) return spec_error(where + ": unknown key '" + item.key() + "'");
  auto get_int = [&](const char* key, int lo, int hi, int* out) -> bool {
    if (!j.contains(key)) return true;
    if (!j[key].is_number_integer() || j[key].get<long long>() < lo || j[key].get<long long>() > hi) return false;
    *out = j[key].get<int>();
    return true;
  };
  auto get_float = [&](const char* key, double lo, double hi, float* out) -> bool {
    if (!j.contains(key)) return true;
    if (!j[key].is_number() || j[key].get<double>() < lo || j[key].get<double>() > hi) return false;
    *out = j[key].get<float>();
    return true;
  };
  if (l.kind == LayerKind::kMaxPool || l.kind == LayerKind::kAvgPool) l.kernel = l.stride = 2;
  if (l.kind == LayerKind::kConv) l.kernel = 3;
  if (!get_int("out", 1, 65536, &l.out)) return spec_error(where + ": 'out' must be an integer from 1 to 65536");
  if (!get_int("kernel", 1, 15, &l.kernel)) return spec_error(where + ": 'kernel' must be an integer from 1 to 15");
  if (!j.contains("stride") && (l.kind == LayerKind::kMaxPool || l.kind == LayerKind::kAvgPool)) l.stride = l.kernel;
  if (!get_int("stride", 1, 8, &l.stride)) return spec_error(where + ": 'stride' must be an integer from 1 to 8");
  if (!get_int("ratio", 1, 1024, &l.ratio)) return spec_error(where + ": 'ratio' must be an integer from 1 to 1024");
  if (!get_float("slope", 0, 1, &l.slope)) return spec_error(where + ": 'slope' must be in [0, 1]");
  if (!get_float("p", 0, 0.99, &l.p)) return spec_error(where + ": 'p' must be in [0, 0.99]");
  if (!get_float("l1", 0, 1, &l.l1) || !get_float("l2", 0, 1, &l.l2)) return spec_error(where + ": 'l1' and 'l2' must be in [0, 1]");
  if (j.contains("bias")) {
    if (!j["bias"].is_boolean()) return spec_error(where + ": 'bias' must be true or false");
    l.bias = j["bias"].get<bool>();
  }
  if (l.kind == LayerKind::kConv) {
    l.padding = l.kernel / 2;
    if (j.contains("padding")) {
      if (j["padding"].is_string() && j["padding"].get<std::string>() == "same") {
        if (l.kernel % 2 == 0) return spec_error(where + ": padding \"same\" needs an odd kernel");
      } else if (j["padding"].is_string() && j["padding"].get<std::string>() == "valid") {
        l.padding = 0;
      } else if (!get_int("padding", 0, 7, &l.padding)) {
        return spec_error(where + ": 'padding' must be \"same\", \"valid\" or an integer from 0 to 7");
      }
    }
  }
  if ((l.kind == LayerKind::kConv || l.kind == LayerKind::kDense) && l.out == 0)
    return spec_error(where + ": a " + layer_kind_name(l.kind) + " layer needs 'out'");
  if (l.kind == LayerKind::kResidual) {
    if (!j.contains("layers")) return spec_error(where + ": a residual layer needs 'layers'");
    Result<std::vector<Layer>> body = parse_layers(j["layers"], where + ".layers");
    if (!body) return body.error();
    l.body = body.take();
    if (j.contains("shortcut")) {
      Result<std::vector<Layer>> shortcut = parse_layers(j["shortcut"], where + ".shortcut");
      if (!shortcut) return shortcut.error();
      l.shortcut = shortcut.take();
    }
  }
  return l;
}

json layer_to_json(const Layer& l) {
  json j{{"type", layer_kind_name(l.kind)}};
  switch (l.kind) {
    case LayerKind::kConv:
      j["out"] = l.out; j["kernel"] = l.kernel; j["stride"] = l.stride; j["padding"] = l.padding; j["bias"] = l.bias;
      break;
    case LayerKind::kDense: j["out"] = l.out; j["bias"] = l.bias; break;
    case LayerKind::kLeakyRelu: j["slope"] = l.slope; break;
    case LayerKind::kMaxPool: case LayerKind::kAvgPool: j["kernel"] = l.kernel; j["stride"] = l.stride; break;
    case LayerKind::kDropout: j["p"] = l.p; break;
    case LayerKind::kSqueezeExcite: j["ratio"] = l.ratio; break;
    case LayerKind::kResidual: {
      j["layers"] = json::array();
      for (const Layer& b : l.body) j["layers"].push_back(layer_to_json(b));
      if (!l.shortcut.empty()) {
        j["shortcut"] = json::array();
        for (const Layer& s : l.shortcut) j["shortcut"].push_back(layer_to_json(s));
      }
      break;
    }
    default: break;
  }
  if (l.l1 > 0) j["l1"] = l.l1;
  if (l.l2 > 0) j["l2"] = l.l2;
  return j;
}

// ---- shapes
Result<std::vector<int>> apply(const Layer& l, const std::vector<int>& in, std::vector<LayerShape>* rows) {
  const bool spatial = in.size() == 3;
  auto need_spatial = [&]() { return spec_error(l.name + " (" + layer_kind_name(l.kind) + ") needs a (C,H,W) input"); };
  std::vector<int> out = in;
  long long params = 0, non_trainable = 0;
  switch (l.kind) {
    case LayerKind::kConv: {
      if (!spatial) return need_spatial();
      const int h = (in[1] + 2 * l.padding - l.kernel) / l.stride + 1, w = (in[2] + 2 * l.padding - l.kernel) / l.stride + 1;
      if (in[1] + 2 * l.padding < l.kernel || in[2] + 2 * l.padding < l.kernel)
        return spec_error(l.name + ": a " + std::to_string(l.kernel) + "x" + std::to_string(l.kernel) + " kernel on a " +
                          std::to_string(in[1]) + "x" + std::to_string(in[2]) + " input");
      out = {l.out, h, w};
      params = static_cast<long long>(l.out) * in[0] * l.kernel * l.kernel + (l.bias ? l.out : 0);
      break;
    }
    case LayerKind::kMaxPool: case LayerKind::kAvgPool: {
      if (!spatial) return need_spatial();
      if (in[1] < l.kernel || in[2] < l.kernel)
        return spec_error(l.name + ": a " + std::to_string(l.kernel) + "-wide pool on a " + std::to_string(in[1]) + "x" +
                          std::to_string(in[2]) + " input (the input image is too small for this architecture)");
      out = {in[0], (in[1] - l.kernel) / l.stride + 1, (in[2] - l.kernel) / l.stride + 1};
      break;
    }
    case LayerKind::kBatchNorm:
      params = 2LL * in[0];         // gamma, beta
      non_trainable = 2LL * in[0];  // running mean, running variance
      break;
    case LayerKind::kGlobalAvgPool:
      if (!spatial) return need_spatial();
      out = {in[0]};
      break;
    case LayerKind::kFlatten: out = {spatial ? in[0] * in[1] * in[2] : in[0]}; break;
    case LayerKind::kDense:
      if (spatial) return spec_error(l.name + ": a dense layer needs flatten or global_avg_pool before it");
      out = {l.out};
      params = static_cast<long long>(l.out) * in[0] + (l.bias ? l.out : 0);
      break;
    case LayerKind::kSqueezeExcite: {
      if (!spatial) return need_spatial();
      const int hidden = in[0] / l.ratio > 0 ? in[0] / l.ratio : 1;
      params = 2LL * in[0] * hidden + hidden + in[0];
      break;
    }
    case LayerKind::kResidual: {
      std::vector<int> body = in, shortcut = in;
      for (const Layer& b : l.body) {
        Result<std::vector<int>> r = apply(b, body, rows);
        if (!r) return r.error();
        body = r.take();
      }
      for (const Layer& s : l.shortcut) {
        Result<std::vector<int>> r = apply(s, shortcut, rows);
        if (!r) return r.error();
        shortcut = r.take();
      }
      if (body != shortcut) return spec_error(l.name + ": the residual body and shortcut give different shapes");
      out = body;
      break;
    }
    case LayerKind::kRelu: case LayerKind::kLeakyRelu: case LayerKind::kSigmoid: case LayerKind::kSwish:
    case LayerKind::kDropout: break;
  }
  rows->push_back(LayerShape{l.name, l.kind, out, params, non_trainable});
  return out;
}

}  // namespace

const char* layer_kind_name(LayerKind kind) {
  for (const auto& [name, k] : kKinds)
    if (k == kind) return name;
  return "?";
}

std::vector<std::string> preset_names() {
  return {"blog_cnn", "blog_cnn_bn", "pcam_baseline", "pcam_wide", "malaria_base", "malaria_leaky_gap", "malaria_bn_se",
          "resnet18"};
}

Result<std::vector<Layer>> preset_layers(const std::string& preset, int width) {
  using K = LayerKind;
  std::vector<Layer> l;
  if (preset == "blog_cnn") {
    // The blog's "Model 1: CNN from scratch" (opensource.com, "Detecting malaria with deep learning"):
    // Conv 32/64/128 3x3 same + ReLU, each with a 2x2 max pool; Flatten; two Dense 512 + ReLU, each
    // with Dropout 0.3; then the sigmoid output (the head).
    for (int c : {32, 64, 128}) l.insert(l.end(), {conv(c), simple(K::kRelu), pool(K::kMaxPool)});
    l.push_back(simple(K::kFlatten));
    for (int i = 0; i < 2; ++i) l.insert(l.end(), {dense(512), simple(K::kRelu), dropout(0.3f)});
  } else if (preset == "blog_cnn_bn") {
    // Ours (what blog_cnn stood for before): batch norm after each pool, one Dense 256, Dropout 0.5.
    for (int c : {32, 64, 128}) l.insert(l.end(), {conv(c), simple(K::kRelu), pool(K::kMaxPool), simple(K::kBatchNorm)});
    l.insert(l.end(), {simple(K::kFlatten), dense(256), simple(K::kRelu), dropout(0.5f)});
  } else if (preset == "pcam_baseline") {
    // The PCam notebook's baseline as its issue describes it (the notebook's model cell was not
    // readable here): three blocks of two 3x3 convs + ReLU, batch norm and a 2x2 max pool; global
    // average pooling; Dense 64 + ReLU; the sigmoid output. Colour or gray: the preprocess block.
    for (int c : {32, 64, 128})
      l.insert(l.end(), {conv(c), simple(K::kRelu), conv(c), simple(K::kRelu), simple(K::kBatchNorm), pool(K::kMaxPool)});
    l.insert(l.end(), {simple(K::kGlobalAvgPool), dense(64), simple(K::kRelu)});
  } else if (preset == "pcam_wide") {
    // Ours (what pcam_baseline stood for before): dropout after each block, Flatten, Dense 256.
    for (int c : {32, 64, 128})
      l.insert(l.end(), {conv(c), simple(K::kRelu), conv(c), simple(K::kRelu), pool(K::kMaxPool), dropout(0.25f)});
    l.insert(l.end(), {simple(K::kFlatten), dense(256), simple(K::kRelu), dropout(0.5f)});
  } else if (preset == "malaria_base") {
    // The three malaria presets carry the names of the malaria notebook's base, LeakyReLU + GAP and
    // BN + squeeze-excite models, but that notebook's model cells could not be read (issue 18): they
    // are not checked against it, and may differ from it.
    for (int c : {32, 64, 128}) l.insert(l.end(), {conv(c), simple(K::kRelu), pool(K::kMaxPool)});
    l.insert(l.end(), {simple(K::kFlatten), dense(512), simple(K::kRelu), dropout(0.5f)});
  } else if (preset == "malaria_leaky_gap") {
    for (int c : {32, 64, 128}) l.insert(l.end(), {conv(c), leaky(), pool(K::kMaxPool)});
    l.insert(l.end(), {simple(K::kGlobalAvgPool), dense(128), leaky(), dropout(0.5f)});
  } else if (preset == "malaria_bn_se") {
    for (int c : {32, 64, 128}) {
      Layer cv = conv(c);
      cv.bias = false;
      l.insert(l.end(), {cv, simple(K::kBatchNorm), simple(K::kRelu), squeeze_excite(8), pool(K::kMaxPool)});
    }
    l.insert(l.end(), {simple(K::kGlobalAvgPool), dense(128), simple(K::kRelu), dropout(0.5f)});
  } else if (preset == "resnet18") {
    // ResNet-18's four stages of two basic blocks, with a 3x3 stride-1 stem for small crops.
    if (width < 4 || width > 256) return spec_error("resnet18 width must be from 4 to 256");
    Layer stem = conv(width);
    stem.bias = false;
    l.insert(l.end(), {stem, simple(K::kBatchNorm), simple(K::kRelu)});
    int in = width;
    for (int stage = 0; stage < 4; ++stage) {
      const int out = width << stage;
      l.push_back(basic_block(in, out, stage == 0 ? 1 : 2));
      l.push_back(basic_block(out, out, 1));
      in = out;
    }
    l.push_back(simple(K::kGlobalAvgPool));
  } else {
    std::string names;
    for (const std::string& n : preset_names()) names += (names.empty() ? "" : ", ") + n;
    return spec_error("unknown preset \"" + preset + "\" (presets: " + names + ")");
  }
  name_layers(l, "features");
  return l;
}

Result<ModelSpec> parse_model_spec(const std::string& json_text) {
  const json j = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return make_error(ErrorCode::kInvalidSpec, "model spec is not valid JSON");
  if (!j.is_object()) return spec_error("must be a JSON object");
  try {
    ModelSpec spec;
    if (j.contains("name") && j["name"].is_string()) spec.name = j["name"].get<std::string>();
    if (j.contains("version") && j["version"].is_string()) spec.version = j["version"].get<std::string>();
    if (!j.contains("classes") || !j["classes"].is_array() || j["classes"].size() < 2)
      return spec_error("'classes' must list at least two class names");
    std::set<std::string> seen;
    for (const json& c : j["classes"]) {
      if (!c.is_string() || c.get<std::string>().empty()) return spec_error("class names must be non-empty strings");
      if (!seen.insert(c.get<std::string>()).second) return spec_error("class \"" + c.get<std::string>() + "\" is listed twice");
      spec.classes.push_back(c.get<std::string>());
    }
    const std::string head = j.value("head", spec.classes.size() == 2 ? "binary" : "multiclass");
    if (head == "binary") {
      if (spec.classes.size() != 2) return spec_error("a binary head needs exactly two classes");
      spec.head = HeadKind::kBinary;
    } else if (head == "multiclass") {
      spec.head = HeadKind::kMulticlass;
    } else {
      return spec_error("'head' is \"" + head + "\", expected binary or multiclass");
    }
    if (j.contains("preprocess")) {
      Result<PreprocessSpec> pre = parse_preprocess_spec(j["preprocess"].dump());
      if (!pre) return pre.error();
      spec.preprocess = pre.take();
    }
    if (!j.contains("architecture") || !j["architecture"].is_object())
      return spec_error("'architecture' must be an object with a \"preset\" or \"layers\"");
    const json& arch = j["architecture"];
    if (arch.contains("preset")) {
      if (!arch["preset"].is_string()) return spec_error("'architecture.preset' must be a string");
      spec.preset = arch["preset"].get<std::string>();
      const int width = arch.value("width", 64);
      Result<std::vector<Layer>> layers = preset_layers(spec.preset, width);
      if (!layers) return layers.error();
      spec.layers = layers.take();
    } else if (arch.contains("layers")) {
      Result<std::vector<Layer>> layers = parse_layers(arch["layers"], "architecture.layers");
      if (!layers) return layers.error();
      spec.layers = layers.take();
      name_layers(spec.layers, "features");
      if (arch.contains("from_preset") && arch["from_preset"].is_string()) spec.preset = arch["from_preset"].get<std::string>();
    } else {
      return spec_error("'architecture' needs a \"preset\" or \"layers\"");
    }
    Result<std::vector<LayerShape>> shapes = infer_shapes(spec);
    if (!shapes) return shapes.error();
    return spec;
  } catch (const json::exception& e) {
    return spec_error(e.what());
  }
}

std::string model_spec_to_json(const ModelSpec& spec) {
  json j;
  j["name"] = spec.name;
  j["version"] = spec.version;
  j["classes"] = spec.classes;
  j["head"] = spec.head == HeadKind::kBinary ? "binary" : "multiclass";
  j["preprocess"] = json::parse(preprocess_spec_to_json(spec.preprocess));
  json layers = json::array();
  for (const Layer& l : spec.layers) layers.push_back(layer_to_json(l));
  j["architecture"] = json{{"layers", layers}};
  if (!spec.preset.empty()) j["architecture"]["from_preset"] = spec.preset;
  return j.dump(2);
}

Result<std::vector<LayerShape>> infer_shapes(const ModelSpec& spec) {
  std::vector<LayerShape> rows;
  std::vector<int> shape = {spec.preprocess.channels(), spec.preprocess.height, spec.preprocess.width};
  for (const Layer& l : spec.layers) {
    Result<std::vector<int>> r = apply(l, shape, &rows);
    if (!r) return r.error();
    shape = r.take();
  }
  if (shape.size() != 1) return spec_error("the layers must end in a vector (add flatten or global_avg_pool)");
  return rows;
}

long long non_trainable_count(const std::vector<LayerShape>& shapes) {
  long long total = 0;
  for (const LayerShape& s : shapes) total += s.non_trainable;
  return total;
}

long long parameter_count(const std::vector<LayerShape>& shapes, const ModelSpec& spec) {
  long long total = 0;
  for (const LayerShape& s : shapes) total += s.parameters;
  const int features = shapes.empty() ? 0 : shapes.back().shape[0];
  return total + static_cast<long long>(features) * spec.outputs() + spec.outputs();
}

}  // namespace cellcam
