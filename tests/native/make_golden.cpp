// make_golden.cpp — golden fixtures for the ONNX export: for every preset architecture (and a few
// non-default CAM layers, so every layer's vector-Jacobian product is exercised), a seeded random
// network with non-trivial batch-norm statistics, real fixture images, and what LibTorch computes:
//
//   OUT/<case>/model.onnx   the exported graph (export_onnx.h)
//   OUT/<case>/input.npy    (N,C,H,W) the preprocessed fixtures (shared/preprocess, as the page)
//   OUT/<case>/probs.npy    (N,K) LibTorch probabilities
//   OUT/<case>/cam.npy      (N,K,h,w) LibTorch autograd Grad-CAM at the case's layer
//   OUT/<case>/hirescam.npy (N,K,h,w)
//   OUT/<case>/case.json    preset, layer, classes, images
// tests/node/onnx_parity.test.mjs runs each model.onnx in onnxruntime-node and compares.
// Regenerate: build/tests/make_golden OUT IMAGE... (CTest's golden_fixtures does this into build/golden).
#include <torch/torch.h>

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "cellcam/model_spec.h"
#include "cellcam/preprocess.h"
#include "decode_any.h"
#include "export_onnx.h"
#include "file_io.h"
#include "gradcam.h"
#include "network.h"
#include "npy_writer.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct Case {
  const char* name;
  json architecture;
  int size;
  const char* color;
  int classes;
  const char* cam_layer;  // "" = default
  double temperature = 1.0;  // temperature scaling baked into probs
};

std::vector<Case> cases() {
  const json avg_pool_layers = json::parse(R"([
    {"type":"conv","out":8,"kernel":3,"padding":1,"bias":false}, {"type":"batch_norm"}, {"type":"relu"},
    {"type":"avg_pool","kernel":2,"stride":2},
    {"type":"conv","out":8,"kernel":3,"stride":2,"padding":1}, {"type":"leaky_relu","slope":0.1},
    {"type":"avg_pool","kernel":3,"stride":2},
    {"type":"flatten"}, {"type":"dense","out":16}, {"type":"batch_norm"}, {"type":"relu"}, {"type":"dropout","p":0.3}])");
  // Swish and sigmoid: their vector-Jacobian products, at conv and at dense level, are in both graphs.
  const json swish_sigmoid_layers = json::parse(R"([
    {"type":"conv","out":8,"kernel":3}, {"type":"swish"}, {"type":"max_pool","kernel":2},
    {"type":"conv","out":8,"kernel":3}, {"type":"sigmoid"}, {"type":"global_avg_pool"},
    {"type":"dense","out":8}, {"type":"swish"}])");
  const json swish_no_pool_layers = json::parse(R"([
    {"type":"conv","out":8,"kernel":3}, {"type":"swish"}, {"type":"conv","out":8,"kernel":3,"stride":2},
    {"type":"sigmoid"}, {"type":"global_avg_pool"}, {"type":"dense","out":8}, {"type":"swish"}])");
  return {
      {"blog_cnn", {{"preset", "blog_cnn"}}, 32, "rgb", 2, ""},
      {"pcam_baseline", {{"preset", "pcam_baseline"}}, 32, "rgb", 2, ""},
      {"pcam_baseline_gray", {{"preset", "pcam_baseline"}}, 32, "gray", 2, ""},
      {"malaria_base", {{"preset", "malaria_base"}}, 32, "rgb", 2, ""},
      {"malaria_base_early", {{"preset", "malaria_base"}}, 32, "rgb", 2, "features.2"},
      {"malaria_leaky_gap", {{"preset", "malaria_leaky_gap"}}, 32, "hsv", 2, ""},
      {"malaria_leaky_gap_early", {{"preset", "malaria_leaky_gap"}}, 32, "rgb", 2, "features.1"},
      {"malaria_bn_se", {{"preset", "malaria_bn_se"}}, 32, "rgb", 2, ""},
      {"malaria_bn_se_early", {{"preset", "malaria_bn_se"}}, 32, "rgb", 2, "features.4", 2.5},
      {"resnet18", {{"preset", "resnet18"}, {"width", 8}}, 32, "rgb", 4, ""},
      {"resnet18_early", {{"preset", "resnet18"}, {"width", 8}}, 32, "rgb", 3, "features.4", 0.7},
      {"avg_pool_multiclass", {{"layers", avg_pool_layers}}, 28, "rgb", 5, "features.2"},
      // Last: each case's weights come from its index (seed 1, 2, ...), so new cases go at the end.
      {"swish_sigmoid", {{"layers", swish_sigmoid_layers}}, 32, "rgb", 3, "features.2"},
      {"swish_sigmoid_early", {{"layers", swish_no_pool_layers}}, 16, "rgb", 3, "features.0"},
  };
}

// Batch norms that do something: random affine parameters and running statistics.
void randomise_batch_norms(cellcam::native::Network& net) {
  torch::NoGradGuard no_grad;
  for (auto& p : net->named_buffers()) {
    const std::string& name = p.key();
    if (name.size() > 12 && name.compare(name.size() - 12, 12, "running_mean") == 0) p.value().normal_(0.0, 0.2);
    if (name.size() > 11 && name.compare(name.size() - 11, 11, "running_var") == 0) p.value().uniform_(0.5, 2.0);
  }
  for (auto& p : net->named_parameters()) {
    const std::string& name = p.key();
    // a batch norm's weight is 1-D and has a running_mean beside it
    if (p.value().dim() == 1 && name.size() > 7 && name.compare(name.size() - 7, 7, ".weight") == 0) {
      const std::string base = name.substr(0, name.size() - 7);
      bool is_bn = false;
      for (auto& b : net->named_buffers()) is_bn = is_bn || b.key() == base + ".running_mean";
      if (is_bn) p.value().uniform_(0.5, 1.5);
    }
  }
}

int fail(const std::string& message) {
  std::fprintf(stderr, "make_golden: %s\n", message.c_str());
  return 1;
}

bool save(const fs::path& path, const torch::Tensor& t) {
  const torch::Tensor c = t.to(torch::kCPU, torch::kFloat).contiguous();
  std::vector<int> shape(c.sizes().begin(), c.sizes().end());
  return cellcam::native::write_npy(path.string(), shape, c.data_ptr<float>(), static_cast<std::size_t>(c.numel())).ok();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return fail("usage: make_golden OUT_DIR IMAGE...");
  const fs::path out = argv[1];
  std::vector<cellcam::Image> images;
  std::vector<std::string> names;
  for (int i = 2; i < argc; ++i) {
    auto bytes = cellcam::native::read_file(argv[i]);
    if (!bytes) return fail(std::string(argv[i]) + ": " + bytes.error().message);
    auto image = cellcam::native::decode_any(bytes.value().data(), bytes.value().size());
    if (!image) return fail(std::string(argv[i]) + ": " + image.error().message);
    images.push_back(image.take());
    names.push_back(fs::path(argv[i]).filename().string());
  }
  torch::set_num_threads(1);  // deterministic reductions; the fixtures are tiny
  int seed = 1;
  for (const Case& c : cases()) {
    json spec_json = {{"name", c.name},
                      {"head", c.classes == 2 ? "binary" : "multiclass"},
                      {"preprocess", {{"width", c.size}, {"height", c.size}, {"color", c.color}, {"aspect", "pad"}}},
                      {"architecture", c.architecture}};
    for (int k = 0; k < c.classes; ++k) spec_json["classes"].push_back("class" + std::to_string(k));
    auto spec = cellcam::parse_model_spec(spec_json.dump());
    if (!spec) return fail(std::string(c.name) + ": " + spec.error().message);
    torch::manual_seed(seed++);
    cellcam::native::Network net(spec.value());
    randomise_batch_norms(net);
    net->eval();

    std::vector<torch::Tensor> inputs;
    for (const cellcam::Image& image : images) {
      auto t = cellcam::preprocess(image, spec.value().preprocess);
      if (!t) return fail(std::string(c.name) + ": " + t.error().message);
      inputs.push_back(torch::from_blob(t.value().data.data(), {t.value().channels, t.value().height, t.value().width}, torch::kFloat).clone());
    }
    const torch::Tensor x = torch::stack(inputs);  // (N,C,H,W)

    auto exported = cellcam::explain::export_onnx(net, c.cam_layer, std::string("golden fixture ") + c.name, c.temperature);
    if (!exported) return fail(std::string(c.name) + ": " + exported.error().message);
    const cellcam::explain::CamMaps maps = cellcam::explain::compute_cams(net, x, exported.value().cam_layer, c.temperature);

    const fs::path dir = out / c.name;
    fs::create_directories(dir);
    const json meta = {{"case", c.name}, {"architecture", c.architecture}, {"cam_layer", exported.value().cam_layer},
                       {"classes", c.classes}, {"images", names}, {"nodes", exported.value().nodes},
                       {"temperature", c.temperature}};
    if (!cellcam::native::write_text_atomically((dir / "model.onnx").string(), exported.value().bytes).ok() ||
        !save(dir / "input.npy", x) || !save(dir / "probs.npy", maps.probs) || !save(dir / "cam.npy", maps.gradcam) ||
        !save(dir / "hirescam.npy", maps.hirescam) ||
        !cellcam::native::write_text_atomically((dir / "case.json").string(), meta.dump(2) + "\n").ok())
      return fail("cannot write " + dir.string());
    std::printf("%-24s %-12s cam %s %dx%d  %zu nodes\n", c.name, c.color, exported.value().cam_layer.c_str(),
                exported.value().cam_width, exported.value().cam_height, exported.value().nodes);
  }
  return 0;
}
