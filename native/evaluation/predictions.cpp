// predictions.cpp — see predictions.h.
#include "predictions.h"

#include <cstdio>

#include "ensemble.h"
#include "metrics.h"
#include "tta.h"

namespace cellcam::train {

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
