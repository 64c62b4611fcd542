// network.h — a torch::nn::Module built from a cellcam::ModelSpec (shared/model_spec.h).
//
// Module names follow the spec's layer names ("features.3", "features.5.body.0", "head"), so a
// checkpoint, the exporter and Grad-CAM can address layers by the names the spec prints.
// forward() returns logits (N, outputs); forward_with_activation() also returns the output of one
// top-level feature layer (for Grad-CAM, with autograd).
// Constraint: include this header only where LibTorch is wanted (~20 s per translation unit).
#pragma once

#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "cellcam/model_spec.h"
#include "sync_batch_norm.h"

namespace cellcam::native {

// x * sigmoid(W2 relu(W1 gap(x))) — the squeeze-and-excite block of the malaria notebook.
class SqueezeExciteImpl : public torch::nn::Module {
 public:
  SqueezeExciteImpl(int channels, int ratio);
  torch::Tensor forward(const torch::Tensor& x);  // (N,C,H,W) -> (N,C,H,W)

 private:
  torch::nn::Linear reduce_{nullptr}, expand_{nullptr};
};
TORCH_MODULE(SqueezeExcite);

// relu(body(x) + shortcut(x)); an empty shortcut is the identity.
class ResidualImpl : public torch::nn::Module {
 public:
  ResidualImpl(torch::nn::Sequential body, torch::nn::Sequential shortcut);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::Sequential body_{nullptr}, shortcut_{nullptr};
};
TORCH_MODULE(Residual);

class GlobalAvgPoolImpl : public torch::nn::Module {
 public:
  torch::Tensor forward(const torch::Tensor& x) { return x.mean({2, 3}); }  // (N,C,H,W) -> (N,C)
};
TORCH_MODULE(GlobalAvgPool);

struct Penalty {
  torch::Tensor weight;
  float l1 = 0.0f;
  float l2 = 0.0f;
};

class NetworkImpl : public torch::nn::Module {
 public:
  explicit NetworkImpl(const ModelSpec& spec);

  torch::Tensor forward(const torch::Tensor& x);  // (N,C,H,W) -> logits (N, outputs)
  // Logits plus the output of the top-level feature layer named `layer` (e.g. "features.11").
  std::pair<torch::Tensor, torch::Tensor> forward_with_activation(const torch::Tensor& x, const std::string& layer);
  // Every batch norm takes its training statistics over all ranks through `sum` (see
  // sync_batch_norm.h); returns how many there are.
  int synchronise_batch_norm(RankSum sum);
  // Sum of the spec's per-layer L1/L2 penalties (0 when there are none).
  torch::Tensor penalty() const;
  const ModelSpec& spec() const { return spec_; }

 private:
  ModelSpec spec_;
  torch::nn::Sequential features_{nullptr};
  torch::nn::Linear head_{nullptr};
  std::vector<Penalty> penalties_;
};
TORCH_MODULE(Network);

}  // namespace cellcam::native
