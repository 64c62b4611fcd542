// inference.cpp — see inference.h.
#include "inference.h"

#include "ensemble.h"

#include "plot.h"

#include <cmath>
#include <filesystem>

#include "image_io.h"

namespace cellcam::train {
namespace fs = std::filesystem;
using nlohmann::json;

Result<std::string> read_text(const std::string& path) {
  Result<std::vector<std::uint8_t>> bytes = native::read_file(path);
  if (!bytes) return bytes.error();
  return std::string(bytes.value().begin(), bytes.value().end());
}

torch::Tensor batch_images(const Batch& b, const torch::Device& device) {
  return torch::from_blob(const_cast<float*>(b.images.data()), {b.size, b.channels, b.height, b.width}, torch::kFloat)
      .to(device);  // (N,C,H,W); .to() copies, so the batch may be freed afterwards
}

// Per-sample losses (N), for either head.
torch::Tensor sample_losses(const torch::Tensor& logits, const torch::Tensor& labels, bool binary) {
  if (binary)
    return torch::binary_cross_entropy_with_logits(logits.squeeze(1), labels.to(torch::kFloat), {}, {},
                                                   torch::Reduction::None);
  return torch::nn::functional::cross_entropy(logits, labels, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
}

// Class probabilities (N, C) from logits at a temperature; a binary head gives {1 - p, p}.
torch::Tensor probabilities(const torch::Tensor& logits, bool binary, double temperature) {
  const torch::Tensor z = temperature == 1.0 ? logits : logits / temperature;
  if (binary) {
    const torch::Tensor p = torch::sigmoid(z.squeeze(1));
    return torch::stack({1 - p, p}, 1);
  }
  return torch::softmax(z, 1);
}

int tta_view_count(const torch::Tensor& x) { return x.size(2) == x.size(3) ? 8 : 4; }

torch::Tensor tta_view(const torch::Tensor& x, int v) {
  torch::Tensor view = x;
  if (x.size(2) == x.size(3)) {
    if (v >= 4) view = view.flip({3});
    if (v % 4) view = torch::rot90(view, v % 4, {2, 3});
  } else {
    if (v & 1) view = view.flip({3});
    if (v & 2) view = view.flip({2});
  }
  return view.contiguous();
}

torch::Tensor tta_undo_view(const torch::Tensor& map, int v, bool square) {
  torch::Tensor out = map;
  if (square) {
    if (v % 4) out = torch::rot90(out, 4 - v % 4, {2, 3});
    if (v >= 4) out = out.flip({3});
  } else {
    if (v & 1) out = out.flip({3});
    if (v & 2) out = out.flip({2});
  }
  return out;
}

torch::Tensor mean_over_views(const torch::Tensor& views) {
  torch::Tensor sum = views[0];
  for (int64_t v = 1; v < views.size(0); ++v) sum = sum + views[v];
  return sum / static_cast<double>(views.size(0));
}

torch::Tensor tta_view_probabilities(native::Network& net, const torch::Tensor& x, bool binary, double temperature) {
  std::vector<torch::Tensor> probs;
  for (int v = 0; v < tta_view_count(x); ++v) probs.push_back(probabilities(net->forward(tta_view(x, v)), binary, temperature));
  return torch::stack(probs, 0);
}

torch::Tensor tta_probabilities(native::Network& net, const torch::Tensor& x, bool binary, double temperature) {
  return mean_over_views(tta_view_probabilities(net, x, binary, temperature));
}

Predictions predict_store(native::Network& net, const ImageStore& store, const std::vector<int>& samples, int batch_size,
                          const torch::Device& device, bool tta, double temperature) {
  Predictions out;
  torch::NoGradGuard no_grad;
  net->eval();
  LoaderOptions options;
  options.batch_size = batch_size;
  options.shuffle = false;
  EpochLoader loader(store, samples, nullptr, options, 0);
  const bool binary = net->spec().head == HeadKind::kBinary;
  double loss_sum = 0;
  while (std::optional<Batch> b = loader.next()) {
    if (b->size == 0) continue;
    const torch::Tensor logits = net->forward(batch_images(*b, device));
    const torch::Tensor labels = torch::tensor(b->labels, torch::kLong).to(device);
    loss_sum += sample_losses(logits, labels, binary).sum().item<double>();
    torch::Tensor p;
    if (tta) {
      const torch::Tensor views = tta_view_probabilities(net, batch_images(*b, device), binary, temperature);  // (V,N,C)
      p = mean_over_views(views).to(torch::kCPU).contiguous();
      // The views disagree as an ensemble's members do: ensemble.h's disagreement over (V,N,C) -> (N).
      const torch::Tensor v = views.to(torch::kCPU).contiguous();
      std::vector<ProbabilityTable> per_view(v.size(0));
      for (int64_t view = 0; view < v.size(0); ++view)
        for (int64_t i = 0; i < v.size(1); ++i) {
          const float* row = v[view][i].data_ptr<float>();
          per_view[view].emplace_back(row, row + v.size(2));
        }
      Result<std::vector<double>> d = disagreement(per_view);
      if (d) out.view_disagreement.insert(out.view_disagreement.end(), d.value().begin(), d.value().end());
    } else {
      p = probabilities(logits, binary, temperature).to(torch::kCPU).contiguous();
    }
    const torch::Tensor z = logits.to(torch::kCPU).contiguous();
    const float* data = p.data_ptr<float>();
    const float* zdata = z.data_ptr<float>();
    for (int i = 0; i < b->size; ++i) {
      out.probs.emplace_back(data + i * p.size(1), data + (i + 1) * p.size(1));
      out.logits.emplace_back(zdata + i * z.size(1), zdata + (i + 1) * z.size(1));
      out.labels.push_back(b->labels[i]);
      out.samples.push_back(b->samples[i]);
    }
  }
  out.loss = out.labels.empty() ? 0.0 : loss_sum / out.labels.size();
  return out;
}

Result<bool> save_checkpoint(const std::string& path, native::Network& net, torch::optim::Optimizer& opt, const json& state,
                             const std::vector<torch::Tensor>* averaged) {
  try {
    torch::serialize::OutputArchive archive;
    net->save(archive);
    torch::serialize::OutputArchive optimizer;
    opt.save(optimizer);
    archive.write("optimizer", optimizer);
    if (averaged && !averaged->empty()) {
      torch::serialize::OutputArchive average;
      for (std::size_t i = 0; i < averaged->size(); ++i) average.write(std::to_string(i), (*averaged)[i], /*is_buffer=*/true);
      archive.write("weight_average", average);
    }
    archive.save_to(path + ".tmp");
    fs::rename(path + ".tmp", path);
  } catch (const std::exception& e) {
    return make_error(ErrorCode::kIo, "cannot write checkpoint " + path + ": " + e.what());
  }
  return native::write_text_atomically(path + ".json", state.dump(2) + "\n");
}

Result<json> load_checkpoint(const std::string& path, native::Network& net, torch::optim::Optimizer* opt,
                             std::vector<torch::Tensor>* averaged) {
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(path, torch::kCPU);  // a CUDA-trained checkpoint must load on a CPU-only machine
    net->load(archive);
    if (opt) {
      torch::serialize::InputArchive optimizer;
      archive.read("optimizer", optimizer);
      opt->load(optimizer);
    }
    if (averaged) {
      averaged->clear();
      torch::serialize::InputArchive average;
      if (archive.try_read("weight_average", average)) {
        torch::Tensor t;
        for (std::size_t i = 0; average.try_read(std::to_string(i), t, /*is_buffer=*/true); ++i) averaged->push_back(t.clone());
      }
    }
  } catch (const std::exception& e) {
    return make_error(ErrorCode::kIo, "cannot read checkpoint " + path + ": " + e.what());
  }
  Result<std::string> text = read_text(path + ".json");
  if (!text) return text.error();
  json state = json::parse(text.value(), nullptr, false);
  if (state.is_discarded()) return make_error(ErrorCode::kCorrupt, path + ".json is not valid JSON");
  return state;
}

Result<InitReport> init_matching_weights(const std::string& path, native::Network& net) {
  InitReport report;
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(path, torch::kCPU);
    torch::NoGradGuard no_grad;
    // Module::save nests one archive per submodule: "features.0.weight" is features -> 0 -> weight.
    auto read_nested = [&](const std::string& name, torch::Tensor& out, bool is_buffer) {
      std::vector<std::string> parts;
      for (std::size_t start = 0, dot; start <= name.size(); start = dot + 1) {
        dot = name.find('.', start);
        if (dot == std::string::npos) dot = name.size();
        parts.push_back(name.substr(start, dot - start));
      }
      std::vector<torch::serialize::InputArchive> chain(parts.size());
      torch::serialize::InputArchive* at = &archive;
      for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
        if (!at->try_read(parts[i], chain[i])) return false;
        at = &chain[i];
      }
      return at->try_read(parts.back(), out, is_buffer);
    };
    auto copy_matching = [&](const std::string& name, torch::Tensor& target, bool is_buffer) {
      ++report.total;
      torch::Tensor source;
      if (!read_nested(name, source, is_buffer) || source.sizes() != target.sizes()) return;
      target.copy_(source);
      ++report.copied;
    };
    for (auto& p : net->named_parameters()) copy_matching(p.key(), p.value(), false);
    for (auto& b : net->named_buffers()) copy_matching(b.key(), b.value(), true);
  } catch (const std::exception& e) {
    return make_error(ErrorCode::kIo, "cannot read " + path + ": " + e.what());
  }
  if (report.copied == 0) return make_error(ErrorCode::kInvalidArgument, path + " has no weights that fit this model");
  return report;
}

json metrics_json(const Metrics& m, const std::vector<std::string>& classes, double loss) {
  json per_class = json::array();
  for (std::size_t c = 0; c < m.per_class.size(); ++c) {
    const ClassMetrics& k = m.per_class[c];
    per_class.push_back({{"class", classes[c]}, {"precision", k.precision}, {"recall", k.recall},
                         {"specificity", k.specificity}, {"f1", k.f1}, {"support", k.support},
                         {"roc_auc", c < m.per_class_roc_auc.size() ? m.per_class_roc_auc[c] : NAN}});
  }
  auto summary = [](const ClassMetrics& k) {
    return json{{"precision", k.precision}, {"recall", k.recall}, {"specificity", k.specificity}, {"f1", k.f1}};
  };
  return json{{"loss", loss}, {"accuracy", m.accuracy}, {"roc_auc", m.roc_auc}, {"pr_auc", m.pr_auc},
              {"macro", summary(m.macro)}, {"weighted", summary(m.weighted)}, {"per_class", per_class},
              {"confusion", {{"classes", classes}, {"counts", m.confusion.counts}}}};
}

// One-vs-rest ROC curves of `p` (binary: the positive class only), labelled with their AUC.
std::vector<report::Series> roc_series(const Predictions& p, const std::vector<std::string>& classes, const std::string& prefix) {
  std::vector<report::Series> out;
  const std::size_t first = classes.size() == 2 ? 1 : 0;
  for (std::size_t c = first; c < classes.size(); ++c) {
    std::vector<float> scores;
    std::vector<int> positive;
    for (std::size_t i = 0; i < p.probs.size(); ++i) {
      scores.push_back(p.probs[i][c]);
      positive.push_back(p.labels[i] == static_cast<int>(c) ? 1 : 0);
    }
    Result<RocCurve> curve = roc_curve(scores, positive);
    Result<double> auc = roc_auc(scores, positive);
    if (!curve || !auc) continue;
    char label[160];
    const std::string who = classes.size() == 2 ? prefix : prefix + " " + classes[c];
    std::snprintf(label, sizeof label, "%s (AUC %.3f)", who.c_str(), auc.value());
    report::Series series;
    series.label = label;
    series.x = curve.value().fpr;
    series.y = curve.value().tpr;
    out.push_back(series);
  }
  return out;
}

}  // namespace cellcam::train
