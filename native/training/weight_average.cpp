// weight_average.cpp — see weight_average.h.
#include "weight_average.h"

#include <algorithm>

namespace cellcam::train {

std::vector<torch::Tensor> WeightAverage::live(native::Network& net) {
  std::vector<torch::Tensor> out;
  for (const torch::Tensor& p : net->parameters()) out.push_back(p);
  for (const torch::Tensor& b : net->buffers()) out.push_back(b);
  return out;
}

WeightAverage::WeightAverage(native::Network& net, double decay) : decay_(decay) {
  torch::NoGradGuard no_grad;
  for (const torch::Tensor& t : live(net)) average_.push_back(t.detach().clone());
}

void WeightAverage::update(native::Network& net) {
  torch::NoGradGuard no_grad;
  ++steps_;
  const double d = std::min(decay_, (1.0 + steps_) / (10.0 + steps_));
  const std::vector<torch::Tensor> w = live(net);
  for (std::size_t i = 0; i < w.size(); ++i) {
    if (w[i].is_floating_point()) {
      average_[i].mul_(d).add_(w[i].detach(), 1.0 - d);
    } else {
      average_[i].copy_(w[i]);
    }
  }
}

void WeightAverage::swap(native::Network& net) {
  torch::NoGradGuard no_grad;
  const std::vector<torch::Tensor> w = live(net);
  for (std::size_t i = 0; i < w.size(); ++i) {
    const torch::Tensor held = w[i].detach().clone();
    w[i].detach().copy_(average_[i]);
    average_[i].copy_(held);
  }
}

bool WeightAverage::restore(const std::vector<torch::Tensor>& tensors, long steps) {
  if (tensors.size() != average_.size()) return false;
  for (std::size_t i = 0; i < tensors.size(); ++i)
    if (!tensors[i].sizes().equals(average_[i].sizes())) return false;
  torch::NoGradGuard no_grad;
  for (std::size_t i = 0; i < tensors.size(); ++i) average_[i].copy_(tensors[i]);
  steps_ = steps;
  return true;
}

}  // namespace cellcam::train
