// network.cpp — ModelSpec -> torch modules; see network.h.
#include "network.h"

#include <stdexcept>

namespace cellcam::native {
namespace {

// Builds `layers` into `seq`, tracking the tensor shape (C,H,W) or (F) as the spec's shape inference does.
void build(const std::vector<Layer>& layers, torch::nn::Sequential& seq, std::vector<int>& shape,
           std::vector<Penalty>& penalties) {
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const Layer& l = layers[i];
    switch (l.kind) {
      case LayerKind::kConv: {
        auto conv = torch::nn::Conv2d(torch::nn::Conv2dOptions(shape[0], l.out, l.kernel)
                                          .stride(l.stride)
                                          .padding(l.padding)
                                          .bias(l.bias));
        seq->push_back(conv);
        if (l.l1 > 0 || l.l2 > 0) penalties.push_back({conv->weight, l.l1, l.l2});
        shape = {l.out, (shape[1] + 2 * l.padding - l.kernel) / l.stride + 1, (shape[2] + 2 * l.padding - l.kernel) / l.stride + 1};
        break;
      }
      case LayerKind::kBatchNorm:
        seq->push_back(SyncBatchNorm(shape[0]));  // ordinary batch norm until synchronise_batch_norm()
        break;
      case LayerKind::kRelu: seq->push_back(torch::nn::ReLU()); break;
      case LayerKind::kLeakyRelu:
        seq->push_back(torch::nn::LeakyReLU(torch::nn::LeakyReLUOptions().negative_slope(l.slope)));
        break;
      case LayerKind::kSigmoid: seq->push_back(torch::nn::Sigmoid()); break;
      case LayerKind::kSwish: seq->push_back(torch::nn::SiLU()); break;  // x * sigmoid(x)
      case LayerKind::kMaxPool:
        seq->push_back(torch::nn::MaxPool2d(torch::nn::MaxPool2dOptions(l.kernel).stride(l.stride)));
        shape = {shape[0], (shape[1] - l.kernel) / l.stride + 1, (shape[2] - l.kernel) / l.stride + 1};
        break;
      case LayerKind::kAvgPool:
        seq->push_back(torch::nn::AvgPool2d(torch::nn::AvgPool2dOptions(l.kernel).stride(l.stride)));
        shape = {shape[0], (shape[1] - l.kernel) / l.stride + 1, (shape[2] - l.kernel) / l.stride + 1};
        break;
      case LayerKind::kGlobalAvgPool:
        seq->push_back(GlobalAvgPool());
        shape = {shape[0]};
        break;
      case LayerKind::kFlatten:
        seq->push_back(torch::nn::Flatten());
        shape = {shape.size() == 3 ? shape[0] * shape[1] * shape[2] : shape[0]};
        break;
      case LayerKind::kDense: {
        auto dense = torch::nn::Linear(torch::nn::LinearOptions(shape[0], l.out).bias(l.bias));
        seq->push_back(dense);
        if (l.l1 > 0 || l.l2 > 0) penalties.push_back({dense->weight, l.l1, l.l2});
        shape = {l.out};
        break;
      }
      case LayerKind::kDropout: seq->push_back(torch::nn::Dropout(torch::nn::DropoutOptions(l.p))); break;
      case LayerKind::kSqueezeExcite: seq->push_back(SqueezeExcite(shape[0], l.ratio)); break;
      case LayerKind::kResidual: {
        torch::nn::Sequential body, shortcut;
        std::vector<int> body_shape = shape, shortcut_shape = shape;
        build(l.body, body, body_shape, penalties);
        build(l.shortcut, shortcut, shortcut_shape, penalties);
        seq->push_back(Residual(body, shortcut));
        shape = body_shape;
        break;
      }
    }
  }
}

}  // namespace

SqueezeExciteImpl::SqueezeExciteImpl(int channels, int ratio) {
  const int hidden = channels / ratio > 0 ? channels / ratio : 1;
  reduce_ = register_module("reduce", torch::nn::Linear(channels, hidden));
  expand_ = register_module("expand", torch::nn::Linear(hidden, channels));
}

torch::Tensor SqueezeExciteImpl::forward(const torch::Tensor& x) {
  const torch::Tensor squeezed = x.mean({2, 3});                                         // (N,C)
  const torch::Tensor gate = torch::sigmoid(expand_(torch::relu(reduce_(squeezed))));   // (N,C)
  return x * gate.unsqueeze(-1).unsqueeze(-1);
}

ResidualImpl::ResidualImpl(torch::nn::Sequential body, torch::nn::Sequential shortcut) {
  body_ = register_module("body", body);
  shortcut_ = register_module("shortcut", shortcut);
}

torch::Tensor ResidualImpl::forward(const torch::Tensor& x) {
  const torch::Tensor skip = shortcut_->is_empty() ? x : shortcut_->forward(x);
  return torch::relu(body_->forward(x) + skip);
}

NetworkImpl::NetworkImpl(const ModelSpec& spec) : spec_(spec) {
  torch::nn::Sequential features;
  std::vector<int> shape = {spec.preprocess.channels(), spec.preprocess.height, spec.preprocess.width};
  build(spec.layers, features, shape, penalties_);
  if (shape.size() != 1) throw std::invalid_argument("model spec: the layers must end in a vector");
  features_ = register_module("features", features);
  head_ = register_module("head", torch::nn::Linear(shape[0], spec.outputs()));
}

torch::Tensor NetworkImpl::forward(const torch::Tensor& x) { return head_(features_->forward(x)); }

std::pair<torch::Tensor, torch::Tensor> NetworkImpl::forward_with_activation(const torch::Tensor& x, const std::string& layer) {
  torch::Tensor h = x;
  torch::Tensor activation;
  std::size_t i = 0;
  for (auto& module : *features_) {  // keys are the indices: "features.<i>"
    h = module.forward(h);
    if ("features." + std::to_string(i++) == layer) activation = h;
  }
  if (!activation.defined()) throw std::invalid_argument("no top-level feature layer named " + layer);
  return {head_(h), activation};
}

int NetworkImpl::synchronise_batch_norm(RankSum sum) {
  int count = 0;
  for (const std::shared_ptr<torch::nn::Module>& m : modules(/*include_self=*/false)) {
    if (auto* bn = dynamic_cast<SyncBatchNormImpl*>(m.get())) bn->set_rank_sum(sum), ++count;
  }
  return count;
}

torch::Tensor NetworkImpl::penalty() const {
  torch::Tensor total = torch::zeros({});
  for (const Penalty& p : penalties_) {
    if (p.l1 > 0) total = total + p.l1 * p.weight.abs().sum();
    if (p.l2 > 0) total = total + p.l2 * p.weight.pow(2).sum();
  }
  return total;
}

}  // namespace cellcam::native
