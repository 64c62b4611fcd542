// tta.cpp — see tta.h.
#include "tta.h"

#include "predictions.h"

#include "cellcam/views.h"

namespace cellcam::train {

int tta_view_count(const torch::Tensor& x) { return x.size(2) == x.size(3) ? 8 : 4; }

// The views are the shared rule (cellcam/views.h), the one the page applies: the tensors go through it on
// the CPU and come back to their device.
torch::Tensor tta_view(const torch::Tensor& x, int v) {
  const torch::Tensor cpu = x.to(torch::kCPU, torch::kFloat).contiguous();
  std::vector<float> out = make_view(cpu.data_ptr<float>(), static_cast<int>(x.size(0)), static_cast<int>(x.size(1)),
                                     static_cast<int>(x.size(2)), static_cast<int>(x.size(3)), v);
  return torch::from_blob(out.data(), x.sizes(), torch::kFloat).clone().to(x.device());
}

torch::Tensor tta_undo_view(const torch::Tensor& map, int v, bool square) {
  (void)square;  // a square input's maps are square: view_source tells the two apart by the map's shape
  const torch::Tensor cpu = map.detach().to(torch::kCPU, torch::kFloat).contiguous();
  std::vector<float> out = undo_view(cpu.data_ptr<float>(), static_cast<int>(map.size(0)), static_cast<int>(map.size(1)),
                                     static_cast<int>(map.size(2)), static_cast<int>(map.size(3)), v);
  return torch::from_blob(out.data(), map.sizes(), torch::kFloat).clone().to(map.device());
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

}  // namespace cellcam::train
