// cam_layer.cpp — see cam_layer.h.
#include "cam_layer.h"

namespace cellcam::explain {

Result<CamTarget> resolve_cam_layer(const ModelSpec& spec, const std::string& requested) {
  Result<std::vector<LayerShape>> shapes = infer_shapes(spec);
  if (!shapes) return shapes.error();
  CamTarget best;
  std::string spatial_names;
  for (const LayerShape& row : shapes.value()) {
    const std::string prefix = "features.";
    if (row.name.rfind(prefix, 0) != 0 || row.name.find('.', prefix.size()) != std::string::npos) continue;  // nested
    if (row.shape.size() != 3) continue;
    spatial_names += (spatial_names.empty() ? "" : ", ") + row.name;
    CamTarget t;
    t.layer = row.name;
    t.index = std::stoi(row.name.substr(prefix.size()));
    t.channels = row.shape[0];
    t.height = row.shape[1];
    t.width = row.shape[2];
    if (!requested.empty() && requested == row.name) return t;
    if (requested.empty()) best = t;  // rows come in order: the last spatial one wins
  }
  if (!requested.empty())
    return make_error(ErrorCode::kInvalidArgument, "--cam-layer " + requested +
                                                       " is not a top-level layer with a (C,H,W) output; choose one of: " + spatial_names);
  if (best.index < 0) return make_error(ErrorCode::kInvalidArgument, "the model has no layer with a (C,H,W) output to explain");
  return best;
}

}  // namespace cellcam::explain
