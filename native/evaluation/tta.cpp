// tta.cpp — see tta.h.
#include "tta.h"

#include "predictions.h"

namespace cellcam::train {

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

}  // namespace cellcam::train
