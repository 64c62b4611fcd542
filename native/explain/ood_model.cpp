// ood_model.cpp — see ood_model.h.
#include "ood_model.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include "cellcam/ensemble.h"
#include "cellcam/model_card.h"
#include "cellcam/preprocess.h"
#include "cellcam/version.h"
#include "command_output.h"
#include "dataset.h"
#include "export_model.h"
#include "file_io.h"
#include "image_store.h"
#include "metrics.h"
#include "onnx_graph.h"
#include "runtime.h"
#include "scored_data.h"
#include "trained_model.h"

#include <stb/stb_easy_font.h>  // static functions only: no implementation macro

namespace cellcam::explain {
namespace fs = std::filesystem;
using nlohmann::json;

Result<std::string> add_ood_output(const std::string& onnx_bytes, const ModelSpec& spec, const std::string& layer,
                                   const OodStats& stats) {
  GraphBuilder g;
  Result<bool> loaded = g.load(onnx_bytes);
  if (!loaded) return loaded.error();
  if (g.has_output("ood")) return make_error(ErrorCode::kInvalidArgument, "model.onnx already has an \"ood\" output");
  // The head's input is the last layer's output (dropout, which the graph leaves out, included).
  const bool last = !spec.layers.empty() && spec.layers.back().name == layer;
  const std::string features = last ? g.node_input("node/head", 0) : g.node_output("node/" + layer);
  if (features.empty()) return make_error(ErrorCode::kInvalidArgument, "no tensor for layer " + layer + " in model.onnx");
  const int F = stats.features, C = stats.classes;
  const std::string w = g.constant("ood.whiten", {F, F}, stats.whiten);
  const std::string m = g.constant("ood.centres", {C, F}, stats.centres);
  const std::string flat = g.node("Flatten", {features}, {Attr::Int("axis", 1)}, "ood.features");
  const std::string z = g.node("MatMul", {flat, w}, {}, "ood.whitened");                              // (N,F)
  const std::string z3 = g.node("Unsqueeze", {z, g.constant_ints("ood.axis1", {1})}, {}, "ood.z3");  // (N,1,F)
  const std::string d = g.node("Sub", {z3, m}, {}, "ood.diff");                                       // (N,C,F)
  const std::string d2 = g.node("ReduceSum", {g.node("Mul", {d, d}, {}, "ood.squares"), g.constant_ints("ood.axis2", {2})},
                                {Attr::Int("keepdims", 0)}, "ood.distances");                         // (N,C)
  const std::string score = g.node("ReduceMin", {d2}, {Attr::Ints("axes", {1}), Attr::Int("keepdims", 0)}, "ood.nearest");
  g.rename_output(score, "ood");
  g.add_output("ood", {-1});
  return g.finish(version_string(), "");
}

namespace {

// ---------------------------------------------------------------- images: where a set's canvases come from

using CanvasSource = std::function<Result<Canvas>(int i)>;

struct ImageSet {
  std::string name;
  std::string kind;  // in-distribution | dataset | corruption
  int count = 0;
  CanvasSource canvas;
};

// Gaussian blur, separable, edge-clamped.
void blur(Canvas& c, double sigma) {
  const int r = std::max(1, static_cast<int>(std::ceil(3 * sigma)));
  std::vector<double> k(2 * r + 1);
  double sum = 0;
  for (int i = -r; i <= r; ++i) sum += k[i + r] = std::exp(-0.5 * i * i / (sigma * sigma));
  for (double& v : k) v /= sum;
  const int W = c.width, H = c.height, C = c.channels;
  std::vector<float> tmp(c.data.size());
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x)
      for (int ch = 0; ch < C; ++ch) {
        double s = 0;
        for (int i = -r; i <= r; ++i) s += k[i + r] * c.data[(static_cast<std::size_t>(y) * W + std::clamp(x + i, 0, W - 1)) * C + ch];
        tmp[(static_cast<std::size_t>(y) * W + x) * C + ch] = static_cast<float>(s);
      }
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x)
      for (int ch = 0; ch < C; ++ch) {
        double s = 0;
        for (int i = -r; i <= r; ++i) s += k[i + r] * tmp[(static_cast<std::size_t>(std::clamp(y + i, 0, H - 1)) * W + x) * C + ch];
        c.data[(static_cast<std::size_t>(y) * W + x) * C + ch] = static_cast<float>(s);
      }
}

Canvas corrupt(Canvas c, const std::string& how, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  if (how == "blur") {
    blur(c, c.width / 16.0);
  } else if (how == "noise") {
    std::normal_distribution<float> n(0.0f, 0.2f);
    for (float& v : c.data) v = std::clamp(v + n(rng), 0.0f, 1.0f);
  } else if (how == "wrong stain" && c.channels == 3) {
    for (std::size_t p = 0; p + 2 < c.data.size(); p += 3) {
      const float r = c.data[p];
      c.data[p] = c.data[p + 1];
      c.data[p + 1] = c.data[p + 2];
      c.data[p + 2] = r;
    }
  } else if (how == "blank") {
    std::vector<double> mean(c.channels, 0.0);
    const std::size_t pixels = static_cast<std::size_t>(c.width) * c.height;
    for (std::size_t p = 0; p < pixels; ++p)
      for (int ch = 0; ch < c.channels; ++ch) mean[ch] += c.data[p * c.channels + ch];
    for (std::size_t p = 0; p < pixels; ++p)
      for (int ch = 0; ch < c.channels; ++ch) c.data[p * c.channels + ch] = static_cast<float>(mean[ch] / pixels);
  }
  return c;
}

// Lines of words printed black on white at a random scale, the size of the model's canvas.
Canvas text_canvas(int width, int height, std::uint64_t seed) {
  static const char* words[] = {"sample", "slide", "patient", "report", "blood", "cell", "count", "date", "lab", "result",
                                "negative", "positive", "page", "total", "notes", "ID 4711", "2026", "mg/dL", "x100", "stain"};
  std::mt19937_64 rng(seed);
  Canvas c;
  c.width = width;
  c.height = height;
  c.channels = 3;
  c.data.assign(static_cast<std::size_t>(width) * height * 3, 1.0f);
  const int scale = 1 + static_cast<int>(rng() % 3);
  static char buffer[60000];
  for (int line = 0; line * 10 * scale < height; ++line) {
    std::string text;
    while (static_cast<int>(text.size()) * 6 * scale < width + 12) text += std::string(words[rng() % 20]) + " ";
    char* t = text.data();
    const int quads = stb_easy_font_print(static_cast<float>(-(rng() % 8)), static_cast<float>(2 + line * 10), t, nullptr, buffer,
                                          sizeof buffer);
    const float* v = reinterpret_cast<const float*>(buffer);
    for (int q = 0; q < quads; ++q) {
      const float* a = v + q * 16;  // 4 vertices of (x, y, z, colour) floats
      const int x0 = static_cast<int>(a[0] * scale), y0 = static_cast<int>(a[1] * scale);
      const int x1 = static_cast<int>(a[8] * scale), y1 = static_cast<int>(a[9] * scale);
      for (int y = std::max(0, y0); y < std::min(height, y1); ++y)
        for (int x = std::max(0, x0); x < std::min(width, x1); ++x)
          for (int ch = 0; ch < 3; ++ch) c.data[(static_cast<std::size_t>(y) * width + x) * 3 + ch] = 0.0f;
    }
  }
  return c;
}

// ---------------------------------------------------------------- features and scores

struct Features {
  int n = 0;
  int outputs = 0, head_dim = 0, gap_dim = 0;
  std::vector<float> logits, head, gap;  // (n,outputs), (n,head_dim), (n,gap_dim)
  std::vector<int> labels;               // in-distribution sets only
  int unreadable = 0;
};

Features features_of(train::LoadedRun& r, const ImageSet& set, const std::vector<int>& labels, const std::string& head_layer,
                     const std::string& gap_layer, int batch_size) {
  Features f;
  const PreprocessSpec& spec = r.spec.preprocess;
  const std::size_t size = static_cast<std::size_t>(spec.channels()) * spec.height * spec.width;
  torch::NoGradGuard no_grad;
  std::vector<float> batch;
  std::vector<int> batch_labels;
  auto flush = [&] {
    const long count = static_cast<long>(batch.size() / size);
    if (count == 0) return;
    const torch::Tensor x = torch::from_blob(batch.data(), {count, spec.channels(), spec.height, spec.width}, torch::kFloat32).to(r.device);
    auto [logits, head] = r.net->forward_with_activation(x, head_layer);
    const torch::Tensor z = logits.to(torch::kCPU).contiguous();
    const torch::Tensor h = head.reshape({count, -1}).to(torch::kCPU).contiguous();
    f.outputs = static_cast<int>(z.size(1));
    f.head_dim = static_cast<int>(h.size(1));
    f.logits.insert(f.logits.end(), z.data_ptr<float>(), z.data_ptr<float>() + z.numel());
    f.head.insert(f.head.end(), h.data_ptr<float>(), h.data_ptr<float>() + h.numel());
    if (!gap_layer.empty()) {
      const torch::Tensor gp = r.net->forward_with_activation(x, gap_layer).second.reshape({count, -1}).to(torch::kCPU).contiguous();
      f.gap_dim = static_cast<int>(gp.size(1));
      f.gap.insert(f.gap.end(), gp.data_ptr<float>(), gp.data_ptr<float>() + gp.numel());
    }
    f.labels.insert(f.labels.end(), batch_labels.begin(), batch_labels.end());
    f.n += static_cast<int>(count);
    batch.clear();
    batch_labels.clear();
  };
  for (int i = 0; i < set.count; ++i) {
    Result<Canvas> c = set.canvas(i);
    Result<Tensor> t = c ? canvas_to_tensor(c.take(), spec) : Result<Tensor>(c.error());
    if (!t) {
      ++f.unreadable;
      continue;
    }
    batch.insert(batch.end(), t.value().data.begin(), t.value().data.end());
    batch_labels.push_back(labels.empty() ? 0 : labels[i]);
    if (static_cast<int>(batch.size() / size) == batch_size) flush();
  }
  flush();
  return f;
}

struct Candidate {
  std::string name;   // mahalanobis (head input) | mahalanobis (gap) | energy | max softmax
  std::string score;  // the card's word: mahalanobis | energy | msp
  std::string layer;  // Mahalanobis: the layer
  OodStats stats;
  double threshold = 0;
};

// Larger = less like the training images, for every candidate.
std::vector<double> scores_of(const Candidate& c, const Features& f, bool binary, double temperature) {
  std::vector<double> out(f.n);
  for (int i = 0; i < f.n; ++i) {
    if (c.score == "mahalanobis") {
      const bool head = c.name.find("gap") == std::string::npos;
      out[i] = mahalanobis_score((head ? f.head.data() + static_cast<std::size_t>(i) * f.head_dim
                                       : f.gap.data() + static_cast<std::size_t>(i) * f.gap_dim),
                                 c.stats);
      continue;
    }
    const float* z = f.logits.data() + static_cast<std::size_t>(i) * f.outputs;
    std::vector<double> l;
    if (binary) l = {-0.5 * z[0] / temperature, 0.5 * z[0] / temperature};  // symmetric logits: same softmax as sigmoid
    else for (int k = 0; k < f.outputs; ++k) l.push_back(z[k] / temperature);
    const double mx = *std::max_element(l.begin(), l.end());
    double s = 0;
    for (double v : l) s += std::exp(v - mx);
    const double lse = mx + std::log(s);
    out[i] = c.score == "energy" ? -lse : -std::exp(mx - lse);  // energy = -logsumexp; msp: minus the top probability
  }
  return out;
}

double auroc(const std::vector<double>& in, const std::vector<double>& out) {
  std::vector<float> s;
  std::vector<int> pos;
  for (double v : in) s.push_back(static_cast<float>(v)), pos.push_back(0);
  for (double v : out) s.push_back(static_cast<float>(v)), pos.push_back(1);
  Result<double> a = train::roc_auc(s, pos);
  return a ? a.value() : std::nan("");
}

double share_above(const std::vector<double>& v, double threshold) {
  if (v.empty()) return std::nan("");
  long n = 0;
  for (double x : v) n += x > threshold ? 1 : 0;
  return static_cast<double>(n) / v.size();
}

double round4(double v) { return std::isfinite(v) ? std::round(v * 10000.0) / 10000.0 : v; }

// The images every measurement uses: the model's split (train, val, test), the other datasets' selection
// and report halves, and the corruptions of val (selection) and test (report) images.
struct Sets {
  const PreprocessSpec* spec = nullptr;
  int per_set = 400;
  std::map<std::string, train::ScoredData> parts;
  struct Other {
    std::string name;
    data::Dataset dataset;
    std::vector<int> selection, report;
  };
  std::vector<Other> others;

  Result<bool> load(const train::LoadedRun& r, const OodSettings& s) {
    spec = &r.spec.preprocess;
    per_set = s.per_set;
    for (const char* part : {"train", "val", "test"}) {
      Result<train::ScoredData> d = train::scored_data(r, s.model, s.data, part, s.split);
      if (!d) return d.error();
      if (!d.value().own_split) return make_error(ErrorCode::kInvalidArgument, "give --split with --data (the model's split)");
      parts[part] = d.take();
    }
    for (const std::string& o : s.others) {
      const std::size_t eq = o.find('=');
      if (eq == std::string::npos || eq == 0) return make_error(ErrorCode::kInvalidArgument, "--other wants NAME=PATH, not " + o);
      Result<data::Dataset> d = data::load_dataset(o.substr(eq + 1));
      if (!d) return make_error(d.error().code, o.substr(eq + 1) + ": " + d.error().message);
      Other other{o.substr(0, eq), d.take(), {}, {}};
      std::vector<int> all(other.dataset.samples.size());
      for (std::size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int>(i);
      train::shuffle_in_place(all, 7);
      const std::size_t half = std::min<std::size_t>(per_set, all.size() / 2);
      other.selection.assign(all.begin(), all.begin() + half);
      other.report.assign(all.begin() + half, all.begin() + 2 * half);
      others.push_back(std::move(other));
    }
    return true;
  }

  // part: train | val | test; corruption: empty or blur | noise | wrong stain | blank; limit 0: all.
  std::pair<ImageSet, std::vector<int>> own(const std::string& part, const std::string& corruption, int limit) const {
    const train::ScoredData& d = parts.at(part);
    std::vector<int> samples = d.samples;
    if (limit > 0 && static_cast<int>(samples.size()) > limit) {
      train::shuffle_in_place(samples, 11);
      samples.resize(limit);
    }
    ImageSet set;
    set.name = corruption.empty() ? part : corruption;
    set.kind = corruption.empty() ? "in-distribution" : "corruption";
    set.count = static_cast<int>(samples.size());
    const data::Dataset* ds = &d.dataset;
    const PreprocessSpec* sp = spec;
    set.canvas = [ds, samples, corruption, sp](int i) -> Result<Canvas> {
      Result<Canvas> c = train::load_canvas(ds->samples[samples[i]].path, *sp);
      if (!c || corruption.empty()) return c;
      return corrupt(c.take(), corruption, 1000003ull * i + 17);
    };
    std::vector<int> labels;
    for (int i : samples) labels.push_back(ds->samples[i].label);
    return {set, labels};
  }
  ImageSet other(const Other& o, bool selection) const {
    ImageSet set;
    set.name = o.name;
    set.kind = "dataset";
    const std::vector<int> samples = selection ? o.selection : o.report;
    set.count = static_cast<int>(samples.size());
    const data::Dataset* ds = &o.dataset;
    const PreprocessSpec* sp = spec;
    set.canvas = [ds, samples, sp](int i) { return train::load_canvas(ds->samples[samples[i]].path, *sp); };
    return set;
  }
  ImageSet text(bool selection) const {
    ImageSet set;
    set.name = "text";
    set.kind = "corruption";
    set.count = per_set;
    const std::uint64_t base = selection ? 0 : 1000000;
    const int w = spec->width, h = spec->height;
    set.canvas = [w, h, base](int i) -> Result<Canvas> { return text_canvas(w, h, base + i); };
    return set;
  }
  // Every out-of-distribution set, as (name, kind, selection set, report set).
  struct Pair {
    std::string name, kind;
    ImageSet selection, report;
  };
  std::vector<Pair> out_sets() const {
    std::vector<Pair> v;
    for (const Other& o : others) v.push_back({o.name, "dataset", other(o, true), other(o, false)});
    for (const char* c : {"blur", "noise", "wrong stain", "blank"})
      v.push_back({c, "corruption", own("val", c, per_set).first, own("test", c, per_set).first});
    v.push_back({"text", "corruption", text(true), text(false)});
    return v;
  }
};

int ensemble_ood(const OodSettings& s);

int ood_impl(const OodSettings& s) {
  const char* cmd = "ood";
  if (!(s.pass_rate > 0.5 && s.pass_rate < 1.0)) return train::fail(cmd, make_error(ErrorCode::kInvalidArgument, "--pass-rate must be in (0.5, 1)"));
  if (s.per_set < 10) return train::fail(cmd, make_error(ErrorCode::kInvalidArgument, "--per-set must be at least 10"));
  if (s.batch_size < 1) return train::fail(cmd, make_error(ErrorCode::kInvalidArgument, "--batch-size must be at least 1"));
  native::configure_torch_threads(s.threads);
  if (train::is_ensemble_folder(s.model)) return ensemble_ood(s);
  Result<train::LoadedRun> loaded = train::load_run(s.model, "best");
  if (!loaded) return train::fail(cmd, loaded.error());
  train::LoadedRun& r = loaded.value();
  r.net->eval();
  if (s.write && !r.exported)
    return train::fail(cmd, make_error(ErrorCode::kInvalidArgument, "--write adds the score to an exported model folder; " + s.model +
                                                                          " is a run folder (cellcam export fits it itself)"));
  const bool binary = r.spec.head == HeadKind::kBinary;
  Sets sets;
  Result<bool> got = sets.load(r, s);
  if (!got) return train::fail(cmd, got.error());

  // ---- features
  const std::string head_layer = r.spec.layers.back().name;
  std::string gap_layer;
  for (const Layer& l : r.spec.layers)
    if (l.kind == LayerKind::kGlobalAvgPool) gap_layer = l.name;
  if (gap_layer == head_layer) gap_layer.clear();
  {
    // a GAP followed only by layers that keep its values (flatten, dropout) is the head's input too
    bool same = !gap_layer.empty();
    bool after = false;
    for (const Layer& l : r.spec.layers) {
      if (after && l.kind != LayerKind::kFlatten && l.kind != LayerKind::kDropout) same = false;
      if (l.name == gap_layer) after = true;
    }
    if (same) gap_layer.clear();
  }
  auto run = [&](const ImageSet& set, const std::vector<int>& labels) {
    std::fprintf(stderr, "cellcam ood: %s (%s), %d images\n", set.name.c_str(), set.kind.c_str(), set.count);
    return features_of(r, set, labels, head_layer, gap_layer, s.batch_size);
  };
  const auto [train_set, train_labels] = sets.own("train", "", 0);
  const Features train_f = run(train_set, train_labels);
  const auto [val_set, val_labels] = sets.own("val", "", 0);
  const Features val_f = run(val_set, val_labels);
  const auto [test_set, test_labels] = sets.own("test", "", 0);
  const Features test_f = run(test_set, test_labels);
  struct OutSet {
    std::string name, kind;
    Features selection, report;
  };
  std::vector<OutSet> out_sets;
  for (const Sets::Pair& p : sets.out_sets()) out_sets.push_back({p.name, p.kind, run(p.selection, {}), run(p.report, {})});

  // ---- candidates: fit on train, threshold on val
  const int C = static_cast<int>(r.spec.classes.size());
  std::vector<Candidate> candidates;
  {
    Candidate c{"mahalanobis (" + head_layer + ", the head's input)", "mahalanobis", head_layer, {}, 0};
    Result<OodStats> st = fit_mahalanobis(train_f.head, train_f.labels, train_f.head_dim, C);
    if (!st) return train::fail(cmd, st.error());
    c.stats = st.take();
    candidates.push_back(c);
  }
  if (!gap_layer.empty()) {
    Candidate c{"mahalanobis (" + gap_layer + ", global average pool)", "mahalanobis", gap_layer, {}, 0};
    Result<OodStats> st = fit_mahalanobis(train_f.gap, train_f.labels, train_f.gap_dim, C);
    if (!st) return train::fail(cmd, st.error());
    c.stats = st.take();
    candidates.push_back(c);
  }
  candidates.push_back({"energy (logits)", "energy", "", {}, 0});
  candidates.push_back({"max softmax probability", "msp", "", {}, 0});

  json report = json::object();
  report["model"] = s.model;
  report["pass_rate"] = s.pass_rate;
  report["images"] = {{"train", train_f.n}, {"val", val_f.n}, {"test", test_f.n}};
  json cands = json::array();
  int best = -1;
  double best_auroc = -1;
  std::vector<double> test_scores_best;
  for (std::size_t ci = 0; ci < candidates.size(); ++ci) {
    Candidate& c = candidates[ci];
    const std::vector<double> val_scores = scores_of(c, val_f, binary, r.temperature);
    const std::vector<double> test_scores = scores_of(c, test_f, binary, r.temperature);
    Result<double> t = ood_threshold(val_scores, s.pass_rate);
    if (!t) return train::fail(cmd, t.error());
    c.threshold = t.value();
    json sets = json::array();
    double sel_sum = 0, rep_sum = 0;
    for (const OutSet& o : out_sets) {
      const std::vector<double> sel = scores_of(c, o.selection, binary, r.temperature), rep = scores_of(c, o.report, binary, r.temperature);
      const double a_sel = auroc(val_scores, sel), a_rep = auroc(test_scores, rep);
      sel_sum += a_sel;
      rep_sum += a_rep;
      sets.push_back({{"name", o.name}, {"kind", o.kind}, {"images", o.report.n}, {"auroc", round4(a_rep)},
                      {"flagged", round4(share_above(rep, c.threshold))}, {"selection_auroc", round4(a_sel)},
                      {"selection_flagged", round4(share_above(sel, c.threshold))}});
    }
    const double sel_mean = sel_sum / out_sets.size(), rep_mean = rep_sum / out_sets.size();
    cands.push_back({{"name", c.name}, {"score", c.score}, {"layer", c.layer}, {"threshold", c.threshold},
                     {"selection_mean_auroc", round4(sel_mean)}, {"report_mean_auroc", round4(rep_mean)},
                     {"test_passed", round4(1.0 - share_above(test_scores, c.threshold))},
                     {"val_passed", round4(1.0 - share_above(val_scores, c.threshold))}, {"sets", sets}});
    std::printf("%-52s selection AUROC %.4f  report AUROC %.4f  test passed %.2f%%\n", c.name.c_str(), sel_mean, rep_mean,
                100.0 * (1.0 - share_above(test_scores, c.threshold)));
    for (const json& x : sets)
      std::printf("    %-12s AUROC %.4f  flagged %6.2f%%\n", x["name"].get<std::string>().c_str(), x["auroc"].get<double>(),
                  100.0 * x["flagged"].get<double>());
    // The graph computes Mahalanobis scores: the selection is among them.
    if (c.score == "mahalanobis" && sel_mean > best_auroc) {
      best_auroc = sel_mean;
      best = static_cast<int>(ci);
    }
  }
  report["candidates"] = cands;
  report["selected"] = candidates[best].name;
  report["unreadable"] = {{"train", train_f.unreadable}, {"val", val_f.unreadable}, {"test", test_f.unreadable}};
  std::error_code ec;
  fs::create_directories(s.out, ec);
  Result<bool> written = native::write_text_atomically((fs::path(s.out) / "ood.json").string(), report.dump(2) + "\n");
  if (!written) return train::fail(cmd, written.error());
  std::printf("selected on the selection sets (validation images): %s; threshold %.4g (%.0f%% of validation pass); %s\n",
              candidates[best].name.c_str(), candidates[best].threshold, 100 * s.pass_rate,
              (fs::path(s.out) / "ood.json").string().c_str());
  if (!s.write) return 0;

  // ---- --write: the selected score into model.onnx, its figures into model.json
  const Candidate& c = candidates[best];
  const fs::path onnx_path = fs::path(s.model) / r.card.onnx.file;
  Result<std::string> bytes = native::read_text(onnx_path.string());
  if (!bytes) return train::fail(cmd, bytes.error());
  Result<std::string> graph = add_ood_output(bytes.value(), r.spec, c.layer, c.stats);
  if (!graph) return train::fail(cmd, make_error(graph.error().code, onnx_path.string() + ": " + graph.error().message));
  ModelCard card = r.card;
  card.onnx.sha256 = sha256_hex(graph.value());
  card.onnx.bytes = static_cast<long long>(graph.value().size());
  card.ood.present = true;
  card.ood.score = "mahalanobis";
  card.ood.layer = c.layer;
  card.ood.features = c.stats.features;
  card.ood.threshold = c.threshold;
  card.ood.pass_rate = s.pass_rate;
  char source[256];
  std::snprintf(source, sizeof source, "the %.0fth percentile of the validation split's %d scores; statistics from its %d training images",
                100 * s.pass_rate, val_f.n, train_f.n);
  card.ood.threshold_source = source;
  json measured = json::object();
  json chosen = cands[best];
  measured["test_passed"] = chosen["test_passed"];
  measured["test_images"] = test_f.n;
  measured["sets"] = chosen["sets"];
  json comparison = json::array();
  for (const json& x : cands)
    comparison.push_back({{"name", x["name"]}, {"selection_mean_auroc", x["selection_mean_auroc"]}, {"report_mean_auroc", x["report_mean_auroc"]}});
  measured["candidates"] = comparison;
  measured["how"] = "cellcam ood: AUROC of test images against each set's report half, and the share flagged at the threshold; "
                    "the score was selected on validation images against the sets' selection halves";
  card.ood.extra_json = json{{"measured", measured}}.dump();
  json extra = json::parse(card.extra_json);  // the graph's outputs as model.json lists them
  if (extra.contains("outputs") && extra["outputs"].is_object()) extra["outputs"]["ood"] = {"N"};
  card.extra_json = extra.dump();
  Result<ModelCard> check = parse_model_card(model_card_to_json(card));
  if (!check) return train::fail(cmd, check.error());
  written = native::write_text_atomically(onnx_path.string(), graph.value());
  if (written) written = native::write_text_atomically((fs::path(s.model) / "model.json").string(), model_card_to_json(card));
  if (!written) return train::fail(cmd, written.error());
  std::printf("cellcam ood: %s now outputs \"ood\" (%zu bytes, sha256 %s)\n", onnx_path.string().c_str(), graph.value().size(),
              card.onnx.sha256.c_str());
  return 0;
}

// An ensemble folder: each member's own score (`cellcam ood MEMBER --write` first), combined as the page
// and `cellcam predict` combine them (ensemble.h: the weighted mean of score / member threshold), the
// ensemble's threshold chosen on validation; --write refreshes the members' entries in the ensemble's
// model.json (their ONNX files' SHA-256 and "ood" blocks) and adds its own "ood" block.
int ensemble_ood(const OodSettings& s) {
  const char* cmd = "ood";
  const fs::path json_path = fs::path(s.model) / "model.json";
  Result<std::string> text = native::read_text(json_path.string());
  if (!text) return train::fail(cmd, text.error());
  Result<ModelCard> parsed = parse_model_card(text.value());
  if (!parsed) return train::fail(cmd, parsed.error());
  ModelCard card = parsed.take();
  for (EnsembleMember& m : card.ensemble.members) {
    const fs::path folder = fs::path(s.model) / fs::path(m.onnx.file).parent_path();
    Result<std::string> mt = native::read_text((folder / "model.json").string());
    Result<ModelCard> mc = mt ? parse_model_card(mt.value()) : Result<ModelCard>(mt.error());
    if (!mc) return train::fail(cmd, mc.error());
    if (!mc.value().ood.present)
      return train::fail(cmd, make_error(ErrorCode::kInvalidArgument, folder.string() + " has no out-of-distribution score: run cellcam ood " +
                                                                           folder.string() + " --write first"));
    m.ood = mc.value().ood;
    m.ood.extra_json = "{}";  // the member's figures stay in its own card
    m.onnx.sha256 = mc.value().onnx.sha256;
    m.onnx.bytes = mc.value().onnx.bytes;
  }
  card.ood = OodInfo{};
  Result<train::LoadedEnsemble> loaded = train::load_ensemble(s.model);
  if (!loaded) return train::fail(cmd, loaded.error());
  train::LoadedEnsemble& e = loaded.value();
  Sets sets;
  Result<bool> got = sets.load(e.members[0], s);
  if (!got) return train::fail(cmd, got.error());
  const std::vector<double> w = normalised_weights(e.weights, static_cast<int>(e.members.size()));
  // The combined score of every image of `set`.
  auto run = [&](const ImageSet& set) {
    std::fprintf(stderr, "cellcam ood: %s (%s), %d images x %zu members\n", set.name.c_str(), set.kind.c_str(), set.count, e.members.size());
    std::vector<double> combined;
    for (std::size_t m = 0; m < e.members.size(); ++m) {
      train::LoadedRun& r = e.members[m];
      r.net->eval();
      const Features f = features_of(r, set, std::vector<int>(set.count, 0), r.card.ood.layer, "", s.batch_size);
      combined.resize(f.n, 0.0);
      for (int i = 0; i < f.n; ++i)
        combined[i] += w[m] * mahalanobis_score(f.head.data() + static_cast<std::size_t>(i) * f.head_dim, r.ood) / card.ensemble.members[m].ood.threshold;
    }
    return combined;
  };
  const std::vector<double> val = run(sets.own("val", "", 0).first), test = run(sets.own("test", "", 0).first);
  Result<double> t = ood_threshold(val, s.pass_rate);
  if (!t) return train::fail(cmd, t.error());
  json rows = json::array();
  double rep_sum = 0;
  const std::vector<Sets::Pair> pairs = sets.out_sets();
  for (const Sets::Pair& p : pairs) {
    const std::vector<double> sel = run(p.selection), rep = run(p.report);
    const double a = auroc(test, rep);
    rep_sum += a;
    rows.push_back({{"name", p.name}, {"kind", p.kind}, {"images", rep.size()}, {"auroc", round4(a)},
                    {"flagged", round4(share_above(rep, t.value()))}, {"selection_auroc", round4(auroc(val, sel))},
                    {"selection_flagged", round4(share_above(sel, t.value()))}});
    std::printf("    %-12s AUROC %.4f  flagged %6.2f%%\n", p.name.c_str(), a, 100.0 * share_above(rep, t.value()));
  }
  const double test_passed = 1.0 - share_above(test, t.value());
  std::printf("ensemble: threshold %.4f (%.0f%% of validation pass), test passed %.2f%%, mean report AUROC %.4f\n", t.value(),
              100 * s.pass_rate, 100 * test_passed, rep_sum / pairs.size());
  json report = {{"model", s.model}, {"pass_rate", s.pass_rate}, {"threshold", t.value()}, {"test_passed", round4(test_passed)},
                 {"images", {{"val", val.size()}, {"test", test.size()}}}, {"sets", rows}};
  std::error_code ec;
  fs::create_directories(s.out, ec);
  Result<bool> written = native::write_text_atomically((fs::path(s.out) / "ood.json").string(), report.dump(2) + "\n");
  if (!written) return train::fail(cmd, written.error());
  if (!s.write) return 0;
  card.ood.present = true;
  card.ood.score = "members";
  card.ood.threshold = t.value();
  card.ood.pass_rate = s.pass_rate;
  char source[200];
  std::snprintf(source, sizeof source, "the %.0fth percentile of the validation split's %zu combined scores", 100 * s.pass_rate, val.size());
  card.ood.threshold_source = source;
  json measured = {{"test_passed", round4(test_passed)}, {"test_images", test.size()}, {"sets", rows},
                   {"how", "cellcam ood: AUROC of test images against each set's report half, and the share flagged at the threshold"}};
  card.ood.extra_json = json{{"measured", measured}}.dump();
  Result<ModelCard> check = parse_model_card(model_card_to_json(card));
  if (!check) return train::fail(cmd, check.error());
  written = native::write_text_atomically(json_path.string(), model_card_to_json(card));
  if (!written) return train::fail(cmd, written.error());
  std::printf("cellcam ood: %s has an \"ood\" block (threshold %.4f)\n", json_path.string().c_str(), t.value());
  return 0;
}

}  // namespace

int run_ood(const OodSettings& settings) {
  try {
    return ood_impl(settings);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cellcam ood: %s\n", native::first_line(e.what()).c_str());
    return 1;
  }
}

}  // namespace cellcam::explain
