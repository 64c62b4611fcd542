// quantize_model.cpp — see quantize_model.h.
#include "quantize_model.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <sstream>

#include "image_store.h"
#include "metrics.h"
#include "predictions.h"
#include "scored_data.h"

namespace cellcam::explain {
using nlohmann::json;

void round_network_weights(native::Network& net, Quantize mode) {
  if (mode == Quantize::kNone) return;
  torch::NoGradGuard no_grad;
  for (auto& p : net->named_parameters()) {
    torch::Tensor w = p.value();
    if (w.dim() < 2) continue;
    const torch::Tensor c = w.detach().to(torch::kCPU, torch::kFloat).contiguous();
    std::vector<float> v = round_trip(std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel()), c.size(0), mode);
    w.copy_(torch::from_blob(v.data(), c.sizes(), torch::kFloat).to(w.device(), w.scalar_type()));
  }
}

namespace {

// One held-out part, decoded once and scored twice (float32 weights, then rounded ones).
struct Part {
  std::string name;
  std::unique_ptr<train::ScoredData> data;  // the store points into it: it must not move
  std::unique_ptr<train::ImageStore> store;
  train::Predictions before, after;
};

Result<Part> load_part(const train::LoadedRun& r, const QuantizeData& where, const std::string& name) {
  Part part;
  part.name = name;
  Result<train::ScoredData> scored = train::scored_data(r, where.run, where.data, name, where.split);
  if (!scored) return scored.error();
  part.data = std::make_unique<train::ScoredData>(scored.take());
  std::vector<data::Skipped> skipped;
  Result<train::ImageStore> store = train::ImageStore::build(part.data->dataset, part.data->samples, r.spec.preprocess, 0,
                                                             std::size_t{4} << 30, &skipped);
  if (!store) return store.error();
  part.store = std::make_unique<train::ImageStore>(store.take());
  return part;
}

train::Predictions predict(train::LoadedRun& r, const Part& p) {
  return train::predict_store(r.net, *p.store, p.store->usable(), 128, r.device, /*tta=*/false, r.temperature);
}

int decision(const std::vector<float>& probs, bool binary, double threshold) {
  if (binary) return static_cast<double>(probs[1]) >= threshold ? 1 : 0;
  return static_cast<int>(std::max_element(probs.begin(), probs.end()) - probs.begin());
}

json metrics_block(const train::Predictions& p, const train::LoadedRun& r) {
  Result<train::Metrics> m = train::compute_metrics(p.probs, p.labels, r.threshold);
  if (!m) return json{{"error", m.error().message}};
  json j = {{"accuracy", m.value().accuracy}, {"roc_auc", m.value().roc_auc}, {"macro_f1", m.value().macro.f1}};
  if (r.spec.head == HeadKind::kBinary && m.value().per_class.size() == 2) {
    j["sensitivity"] = m.value().per_class[1].recall;
    j["specificity"] = m.value().per_class[1].specificity;
  }
  return j;
}

json compare(const Part& p, const train::LoadedRun& r) {
  const bool binary = r.spec.head == HeadKind::kBinary;
  int changed = 0;
  double worst = 0.0;
  for (std::size_t i = 0; i < p.before.probs.size(); ++i) {
    changed += decision(p.before.probs[i], binary, r.threshold) != decision(p.after.probs[i], binary, r.threshold);
    for (std::size_t c = 0; c < p.before.probs[i].size(); ++c)
      worst = std::max(worst, static_cast<double>(std::fabs(p.before.probs[i][c] - p.after.probs[i][c])));
  }
  return {{"part", p.name}, {"images", p.before.probs.size()}, {"before", metrics_block(p.before, r)},
          {"after", metrics_block(p.after, r)}, {"decisions_changed", changed}, {"max_abs_prob_diff", worst}};
}

const char* scheme(Quantize mode) {
  return mode == Quantize::kFp16
             ? "Weight-only: every weight tensor of rank >= 2 stored as float16 and Cast to float32 in the graph; "
               "activations and compute float32"
             : "Weight-only: every weight tensor of rank >= 2 stored as int8, symmetric per output channel (scale = "
               "max|w| / 127), turned back into float32 in the graph (Cast, Mul by the channel's scale; ONNX Runtime folds both when "
               "it loads the model); activations and compute float32";
}

}  // namespace

Result<json> quantize_and_measure(train::LoadedRun& r, Quantize mode, const QuantizeData& where) {
  json block = {{"mode", quantize_name(mode)}, {"scheme", scheme(mode)}, {"parts", json::array()},
                {"weights_pt", "weights.pt holds the rounded weights: cellcam eval, predict and gradcam compute what model.onnx computes"}};
  if (r.exported && where.data.empty()) {
    round_network_weights(r.net, mode);
    block["note"] = "Accuracy change not measured: an exported model folder keeps no split (give --eval-data and --eval-split)";
    return block;
  }
  if (r.exported && where.split.empty())
    return make_error(ErrorCode::kInvalidArgument, "--eval-data on a model folder needs --eval-split, the split file it was trained on "
                                                   "(cellcam split DATA --out split.csv), so that only held-out images are scored");
  std::vector<Part> parts;
  for (const char* name : {"val", "test"}) {
    Result<Part> p = load_part(r, where, name);
    if (!p) return p.error();
    parts.push_back(p.take());
  }
  for (Part& p : parts) p.before = predict(r, p);
  round_network_weights(r.net, mode);
  for (Part& p : parts) {
    p.after = predict(r, p);
    block["parts"].push_back(compare(p, r));
  }
  block["note"] = "plain forward pass (no TTA), the operating threshold of model.json";
  return block;
}

// ---------------------------------------------------------------------------------------------------
// the card

namespace {

std::string pct(const json& v) {
  if (!v.is_number()) return "n/a";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f%%", 100.0 * v.get<double>());
  return buf;
}

std::string num(const json& v, const char* fmt = "%.4f") {
  if (!v.is_number()) return "n/a";
  char buf[32];
  std::snprintf(buf, sizeof buf, fmt, v.get<double>());
  return buf;
}

// "+0.07 pt", the change of a fraction in percentage points.
std::string points(const json& before, const json& after) {
  if (!before.is_number() || !after.is_number()) return "n/a";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%+.2f pt", 100.0 * (after.get<double>() - before.get<double>()));
  return buf;
}

}  // namespace

// The Grad-CAM parity bounds for quantised graphs (tests/node/quantize.test.mjs asserts them).
static const char* cam_bounds(const std::string& mode) {
  return mode == "fp16" ? "probabilities within 1e-2; the predicted class's map, normalised to [0,1], within 0.075 "
                          "(correlation >= 0.998), every map on the absolute scale within 0.05"
                        : "probabilities within 0.1; the predicted class's map, normalised to [0,1], within 0.15 "
                          "(correlation >= 0.99), every map on the absolute scale within 0.1";
}

std::string quantization_card(const json& block) {
  std::ostringstream md;
  md << "\n## Quantisation (" << block.value("mode", std::string("?")) << ")\n\n" << block.value("scheme", std::string()) << ". ";
  md << "`model.onnx` is " << block.value("onnx_bytes", 0LL) << " bytes (the float32 graph: " << block.value("onnx_bytes_float32", 0LL)
     << " bytes; " << block.value("tensors", 0) << " tensors stored smaller). " << block.value("weights_pt", std::string()) << ".\n"
     << "\nAgainst the float32 graph, Grad-CAM and HiResCAM stay within the bounds `tests/node/quantize.test.mjs` holds "
     << "quantised graphs to: " << cam_bounds(block.value("mode", std::string())) << ".\n";
  const json& parts = block.value("parts", json::array());
  if (parts.empty()) {
    md << "\n" << block.value("note", std::string()) << ".\n";
    return md.str();
  }
  md << "\nThe accuracy change on held-out images, float32 weights against the rounded ones; "
     << block.value("note", std::string()) << ":\n\n"
     << "| part | images | accuracy float32 | quantised | change | ROC-AUC float32 | quantised | decisions changed | max abs P diff |\n"
     << "|---|---|---|---|---|---|---|---|---|\n";
  for (const json& p : parts) {
    const json& b = p.value("before", json::object());
    const json& a = p.value("after", json::object());
    md << "| " << p.value("part", std::string()) << " | " << p.value("images", 0) << " | " << pct(b.value("accuracy", json())) << " | "
       << pct(a.value("accuracy", json())) << " | " << points(b.value("accuracy", json()), a.value("accuracy", json())) << " | "
       << num(b.value("roc_auc", json())) << " | " << num(a.value("roc_auc", json())) << " | " << p.value("decisions_changed", 0)
       << " | " << num(p.value("max_abs_prob_diff", json()), "%.2e") << " |\n";
  }
  return md.str();
}

}  // namespace cellcam::explain
