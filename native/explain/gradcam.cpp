// gradcam.cpp — see gradcam.h.
#include "gradcam.h"

#include "predictions.h"
#include "tta.h"

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
  const int views = train::tta_view_count(x);
  const bool square = views == 8;
  std::vector<torch::Tensor> probs, gradcam, hirescam;
  for (int v = 0; v < views; ++v) {
    const CamMaps m = compute_cams(net, train::tta_view(x, v), layer, temperature);
    probs.push_back(m.probs);
    gradcam.push_back(train::tta_undo_view(m.gradcam, v, square));
    hirescam.push_back(train::tta_undo_view(m.hirescam, v, square));
  }
  CamMaps out;
  out.probs = train::mean_over_views(torch::stack(probs, 0));
  out.gradcam = train::mean_over_views(torch::stack(gradcam, 0)).contiguous();
  out.hirescam = train::mean_over_views(torch::stack(hirescam, 0)).contiguous();
  return out;
}

}  // namespace cellcam::explain
