// tta.h — test-time augmentation: a batch seen as its 8 dihedral views (flips x 90-degree rotations; the
// 4 flips only when H != W), the class probabilities averaged over them, and maps turned back to the
// original's frame (gradcam --tta). The page's views.js does the same in the same order.
// Includes LibTorch: only for translation units that already need it.
#pragma once

#include <torch/torch.h>

#include "network.h"

namespace cellcam::train {

// The mean of the class probabilities over the views of the input. x (N,C,H,W) -> (N,classes).
torch::Tensor tta_probabilities(native::Network& net, const torch::Tensor& x, bool binary, double temperature = 1.0);
// The views' own probabilities: (V,N,classes), V = 8 (4 when H != W), in the order tta_probabilities sums.
torch::Tensor tta_view_probabilities(native::Network& net, const torch::Tensor& x, bool binary, double temperature = 1.0);
// The views themselves, one by one (gradcam --tta needs each view's maps): the number of views of x
// (N,C,H,W), view v of x, and a map (N,K,h,w) in view v's frame turned back to the original's.
//   square: v = 4 f + k, flip left-right when f, then k quarter turns; else 0 id, 1 lr, 2 ud, 3 both.
int tta_view_count(const torch::Tensor& x);
torch::Tensor tta_view(const torch::Tensor& x, int v);
torch::Tensor tta_undo_view(const torch::Tensor& map, int v, bool square);
// The mean over the first dimension of (V,...), summed in view order (as the page sums).
torch::Tensor mean_over_views(const torch::Tensor& views);

}  // namespace cellcam::train
