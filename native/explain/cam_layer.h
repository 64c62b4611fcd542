// cam_layer.h — which layer Grad-CAM explains, and the shape of its maps.
//
// The target is a top-level feature layer ("features.N") with a (C,H,W) output. By default it is the
// last such layer: the output of the last convolutional block, just before global pooling or flatten,
// which is where Grad-CAM is usually taken (coarse but class-discriminative). No LibTorch here.
#pragma once

#include <string>

#include "cellcam/error.h"
#include "cellcam/model_spec.h"

namespace cellcam::explain {

struct CamTarget {
  std::string layer;  // "features.N"
  int index = -1;     // N
  int channels = 0, height = 0, width = 0;
};

// `requested` empty: the default (last spatial top-level layer).
Result<CamTarget> resolve_cam_layer(const ModelSpec& spec, const std::string& requested);

}  // namespace cellcam::explain
