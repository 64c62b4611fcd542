// export_onnx.h — a trained network as an ONNX graph that also computes its own Grad-CAM.
//
// Graph (opset 13, symbolic batch N):
//   input    (N,Cin,H,W)  the preprocessed tensor (shared/preprocess)
//   logits   (N,outputs)  binary: one logit; multi-class: one per class
//   probs    (N,C)        binary: {1 - sigmoid, sigmoid}; multi-class: softmax
//   cam      (N,C,h,w)    Grad-CAM of every class at the target layer (raw, not normalised)
//   hirescam (N,C,h,w)    HiResCAM (element-wise gradient x activation)
// The forward pass folds each batch norm that follows a convolution into it. The backward pass is
// written out as ONNX operators: the vector-Jacobian product of every layer between the target layer
// and the class scores, for all C classes at once, carried as a (C,N,...) gradient tensor so that
// elementwise factors broadcast against the forward (N,...) tensors.
// Constraint: the reference is LibTorch autograd (gradcam.h); tests hold the two within 1e-4.
#pragma once

#include <string>

#include "cellcam/error.h"
#include "network.h"

namespace cellcam::explain {

struct OnnxExport {
  std::string bytes;     // the serialised model
  std::string cam_layer;
  int cam_channels = 0, cam_height = 0, cam_width = 0;
  std::size_t nodes = 0;
};

// `cam_layer` empty: the default target (cam_layer.h). The network must be in eval mode on the CPU.
// temperature: probs = softmax(logits / T) (sigmoid for one logit), temperature scaling baked into the graph.
Result<OnnxExport> export_onnx(native::Network& net, const std::string& cam_layer, const std::string& doc,
                               double temperature = 1.0);

}  // namespace cellcam::explain
