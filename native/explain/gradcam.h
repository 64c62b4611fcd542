// gradcam.h — Grad-CAM and HiResCAM with LibTorch autograd: the reference the exported ONNX graph
// is tested against, and what `cellcam gradcam` draws.
//
// For each class c, the score is the class logit (multi-class) or +logit / -logit (binary sigmoid head:
// the positive class / the other). With A the target layer's activation (N,K,h,w) and G = dscore/dA:
//   Grad-CAM  = relu(sum_k mean_hw(G)_k * A_k)     (N,C,h,w)
//   HiResCAM  = relu(sum_k G_k * A_k)              (N,C,h,w)
// Maps are raw (not normalised); normalising and drawing live in shared/ (cellcam/cam.h).
// Includes LibTorch: only for translation units that already need it.
#pragma once

#include <torch/torch.h>

#include <string>

#include "network.h"

namespace cellcam::explain {

struct CamMaps {
  torch::Tensor probs;     // (N,C)
  torch::Tensor gradcam;   // (N,C,h,w)
  torch::Tensor hirescam;  // (N,C,h,w)
};

// `x` (N,Cin,H,W) on the network's device; the network must be in eval mode.
// probs at `temperature` (temperature scaling); the maps do not depend on it.
CamMaps compute_cams(native::Network& net, const torch::Tensor& x, const std::string& layer, double temperature = 1.0);

// Test-time augmentation: compute_cams on each of the 8 dihedral views of `x` (the 4 flips when H != W; the
// views of train::tta_probabilities), every view's maps carried back to the original orientation (the
// inverse rotation, then the inverse flip), and probabilities and maps averaged over the views.
// The page does the same with views.js; tests/node/views.test.mjs holds the two together.
CamMaps compute_cams_tta(native::Network& net, const torch::Tensor& x, const std::string& layer, double temperature = 1.0);

}  // namespace cellcam::explain
