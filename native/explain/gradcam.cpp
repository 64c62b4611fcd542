// gradcam.cpp — see gradcam.h.
#include "gradcam.h"

#include "inference.h"

namespace cellcam::explain {

CamMaps compute_cams(native::Network& net, const torch::Tensor& x, const std::string& layer, double temperature) {
  torch::AutoGradMode enable(true);
  const bool binary = net->spec().head == HeadKind::kBinary;
  const int classes = static_cast<int>(net->spec().classes.size());
  auto [logits, activation] = net->forward_with_activation(x, layer);  // (N,outputs), (N,K,h,w)
  CamMaps out;
  out.probs = train::probabilities(logits, binary, temperature).detach();
  std::vector<torch::Tensor> gradcam, hirescam;
  for (int c = 0; c < classes; ++c) {
    // Samples are independent in eval mode, so the gradient of the batch sum is each sample's own.
    const torch::Tensor score = binary ? (c == 1 ? logits.select(1, 0) : -logits.select(1, 0)) : logits.select(1, c);
    const torch::Tensor grad = torch::autograd::grad({score.sum()}, {activation}, {}, /*retain_graph=*/true)[0];
    const torch::Tensor weights = grad.mean({2, 3}, /*keepdim=*/true);                // (N,K,1,1)
    gradcam.push_back(torch::relu((weights * activation).sum(1)).detach());            // (N,h,w)
    hirescam.push_back(torch::relu((grad * activation).sum(1)).detach());
  }
  out.gradcam = torch::stack(gradcam, 1);
  out.hirescam = torch::stack(hirescam, 1);
  return out;
}

CamMaps compute_cams_tta(native::Network& net, const torch::Tensor& x, const std::string& layer, double temperature) {
  const bool square = x.size(2) == x.size(3);
  const int views = square ? 8 : 4;
  CamMaps sum;
  for (int v = 0; v < views; ++v) {
    // square: v = 4 f + k, flip left-right when f, then k quarter turns; else 0 id, 1 lr, 2 ud, 3 both.
    torch::Tensor view = x;
    if (square) {
      if (v >= 4) view = view.flip({3});
      if (v % 4) view = torch::rot90(view, v % 4, {2, 3});
    } else {
      if (v & 1) view = view.flip({3});
      if (v & 2) view = view.flip({2});
    }
    CamMaps m = compute_cams(net, view.contiguous(), layer, temperature);
    auto back = [&](torch::Tensor map) {  // (N,C,h,w) in the view's frame -> the original's
      if (square) {
        if (v % 4) map = torch::rot90(map, 4 - v % 4, {2, 3});
        if (v >= 4) map = map.flip({3});
      } else {
        if (v & 1) map = map.flip({3});
        if (v & 2) map = map.flip({2});
      }
      return map;
    };
    m.gradcam = back(m.gradcam);
    m.hirescam = back(m.hirescam);
    if (v == 0) {
      sum = m;
    } else {
      sum.probs = sum.probs + m.probs;
      sum.gradcam = sum.gradcam + m.gradcam;
      sum.hirescam = sum.hirescam + m.hirescam;
    }
  }
  sum.probs = sum.probs / static_cast<double>(views);
  sum.gradcam = (sum.gradcam / static_cast<double>(views)).contiguous();
  sum.hirescam = (sum.hirescam / static_cast<double>(views)).contiguous();
  return sum;
}

}  // namespace cellcam::explain
