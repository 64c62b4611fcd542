// stain_targets.cpp — --stain-norm's targets measured on the training images (see stain_targets.h).
#include "stain_targets.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "cellcam/preprocess.h"
#include "cellcam/stain.h"
#include "image_store.h"

namespace cellcam::train {
namespace {

constexpr int kMaxImages = 1000;

Result<StainMethod> parse_method(const std::string& method) {
  if (method == "rgb") return StainMethod::kRgb;
  if (method == "reinhard") return StainMethod::kReinhard;
  if (method == "macenko") return StainMethod::kMacenko;
  return make_error(ErrorCode::kInvalidArgument, "--stain-method is '" + method + "', expected rgb, reinhard or macenko");
}

// Adds one image's measurement to sums (6 or 8 values); false when the image has none.
bool measure(const Canvas& canvas, StainMethod method, float foreground_above, double* sums) {
  if (method == StainMethod::kRgb) {
    const ForegroundStats st = foreground_stats(canvas, foreground_above);
    if (st.pixels < kMinStainPixels) return false;
    for (int c = 0; c < 3; ++c) { sums[c] += st.mean[c]; sums[3 + c] += st.std[c]; }
    return true;
  }
  if (method == StainMethod::kReinhard) {
    const LabStats st = reinhard_stats(canvas, foreground_above);
    if (st.pixels < kMinStainPixels || (st.std[0] < 1e-4 && st.std[1] < 1e-4 && st.std[2] < 1e-4)) return false;
    for (int c = 0; c < 3; ++c) { sums[c] += st.mean[c]; sums[3 + c] += st.std[c]; }
    return true;
  }
  const std::optional<MacenkoStains> m = estimate_macenko(canvas, foreground_above);
  if (!m) return false;
  for (int s = 0; s < 2; ++s) {
    for (int c = 0; c < 3; ++c) sums[3 * s + c] += m->stains[s][c];
    sums[6 + s] += m->max_conc[s];
  }
  return true;
}

}  // namespace

Result<StainSpec> training_stain_targets(const data::Dataset& dataset, const std::vector<int>& train,
                                         const PreprocessSpec& spec, const std::string& method_name) {
  Result<StainMethod> method = parse_method(method_name);
  if (!method) return method.error();
  StainSpec stain;
  stain.enabled = true;
  stain.method = method.value();
  double sums[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int used = 0;
  for (std::size_t i = 0; i < train.size() && used < kMaxImages; ++i) {
    Result<Canvas> canvas = load_canvas(dataset.samples[train[i]].path, spec);
    if (!canvas || canvas.value().channels != 3) continue;  // unreadable files are reported by the store
    used += measure(canvas.value(), stain.method, stain.foreground_above, sums) ? 1 : 0;
  }
  if (used == 0)
    return make_error(ErrorCode::kInvalidArgument,
                      "--stain-norm: no colour training image has a stain to measure (method " + method_name + ")");
  for (double& s : sums) s /= used;
  if (stain.method == StainMethod::kMacenko) {
    stain.target_mean.clear();
    stain.target_std.clear();
    for (int s = 0; s < 2; ++s) {
      const double* v = &sums[3 * s];
      const double norm = std::sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
      for (int c = 0; c < 3; ++c) stain.target_stains.push_back(static_cast<float>(std::max(v[c], 0.0) / norm));
      stain.target_max_conc.push_back(static_cast<float>(sums[6 + s]));
    }
    return stain;
  }
  // rgb: the std floor keeps the spec valid for a near-flat training set; reinhard's targets are lαβ.
  const double floor = stain.method == StainMethod::kRgb ? 1.0 / 255.0 : 1e-4;
  for (int c = 0; c < 3; ++c) {
    stain.target_mean[c] = static_cast<float>(sums[c]);
    stain.target_std[c] = static_cast<float>(std::max(sums[3 + c], floor));
  }
  return stain;
}

std::string describe_stain_targets(const StainSpec& t) {
  char line[256];
  if (t.method == StainMethod::kMacenko)
    std::snprintf(line, sizeof line, "stain normalisation (macenko): H %.3f %.3f %.3f, E %.3f %.3f %.3f, max concentration %.3f %.3f (training images)",
                  t.target_stains[0], t.target_stains[1], t.target_stains[2], t.target_stains[3], t.target_stains[4],
                  t.target_stains[5], t.target_max_conc[0], t.target_max_conc[1]);
  else
    std::snprintf(line, sizeof line, "stain normalisation (%s): foreground mean %.3f %.3f %.3f, std %.3f %.3f %.3f (training images)",
                  stain_method_name(t.method), t.target_mean[0], t.target_mean[1], t.target_mean[2], t.target_std[0],
                  t.target_std[1], t.target_std[2]);
  return line;
}

}  // namespace cellcam::train
