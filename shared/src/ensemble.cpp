// ensemble.cpp — soft voting, stacking, disagreement and the combined map; see ensemble.h.
#include "cellcam/ensemble.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "cellcam/preprocess.h"  // portable_exp
#include "cellcam/views.h"

namespace cellcam {
namespace {

double clamp_probability(double p, double eps) { return std::min(1.0 - eps, std::max(eps, p)); }

// log(x) for x in (0, 1] from IEEE basic operations (libm's may differ between builds): x = m * 2^e with
// m in [1, 2), log(m) by the atanh series, which converges fast for s = (m-1)/(m+1) <= 1/3.
double portable_log(double x) {
  int e = 0;
  double m = std::frexp(x, &e) * 2.0;  // frexp: [0.5, 1) -> [1, 2); exact
  e -= 1;
  const double s = (m - 1.0) / (m + 1.0);
  const double s2 = s * s;
  double term = s, sum = 0.0;
  for (int k = 1; k < 60; k += 2) {
    sum += term / k;
    term *= s2;
  }
  return 2.0 * sum + e * 0.69314718055994530942;
}

}  // namespace

std::vector<double> normalised_weights(const std::vector<double>& weights, int M) {
  double sum = 0.0;
  for (double w : weights) sum += w;
  if (static_cast<int>(weights.size()) != M || !(sum > 0.0)) return std::vector<double>(M, 1.0 / M);
  std::vector<double> out(weights);
  for (double& w : out) w /= sum;
  return out;
}

Result<std::vector<float>> combine_members(const std::vector<const float*>& member_probs, int n, int K, HeadKind head,
                                           const EnsembleInfo& e) {
  const int M = static_cast<int>(member_probs.size());
  if (M < 1 || n < 0 || K < 2) return make_error(ErrorCode::kInvalidArgument, "combine_members: no members or classes");
  std::vector<float> out(static_cast<std::size_t>(n) * K);
  if (e.method == CombineMethod::kSoft) {
    const std::vector<double> w = normalised_weights([&] {
      std::vector<double> v;
      for (const EnsembleMember& m : e.members) v.push_back(m.weight);
      return v;
    }(), M);
    for (std::size_t i = 0; i < out.size(); ++i) {
      double s = 0.0;
      for (int m = 0; m < M; ++m) s += w[m] * member_probs[m][i];
      out[i] = static_cast<float>(s);
    }
    return out;
  }
  const bool binary = head == HeadKind::kBinary;
  const int outputs = binary ? 1 : K, features = binary ? M : M * K;
  const StackingWeights& st = e.stacking;
  if (static_cast<int>(st.weights.size()) != outputs || static_cast<int>(st.intercepts.size()) != outputs)
    return make_error(ErrorCode::kInvalidSpec, "stacking needs " + std::to_string(outputs) + " rows of weights");
  for (const std::vector<double>& row : st.weights)
    if (static_cast<int>(row.size()) != features)
      return make_error(ErrorCode::kInvalidSpec, "stacking weights need " + std::to_string(features) + " columns");
  std::vector<double> x(features), z(outputs);
  for (int i = 0; i < n; ++i) {
    for (int m = 0; m < M; ++m) {
      if (binary) {
        const double p = clamp_probability(member_probs[m][i * K + 1], st.clamp);
        x[m] = portable_log(p) - portable_log(1.0 - p);
      } else {
        for (int k = 0; k < K; ++k) x[m * K + k] = portable_log(clamp_probability(member_probs[m][i * K + k], st.clamp));
      }
    }
    for (int o = 0; o < outputs; ++o) {
      double s = st.intercepts[o];
      for (int f = 0; f < features; ++f) s += st.weights[o][f] * x[f];
      z[o] = s;
    }
    if (binary) {
      const double p = 1.0 / (1.0 + portable_exp(-z[0]));
      out[i * K] = static_cast<float>(1.0 - p);
      out[i * K + 1] = static_cast<float>(p);
    } else {
      const double top = *std::max_element(z.begin(), z.end());
      double sum = 0.0;
      for (double& v : z) sum += (v = portable_exp(v - top));
      for (int k = 0; k < K; ++k) out[i * K + k] = static_cast<float>(z[k] / sum);
    }
  }
  return out;
}

std::vector<double> member_disagreement(const std::vector<const float*>& member_probs, int n, int K,
                                        const std::vector<double>& weights) {
  const int M = static_cast<int>(member_probs.size());
  const std::vector<double> w = normalised_weights(weights, M);
  std::vector<double> out(n, 0.0);
  for (int i = 0; i < n; ++i) {
    for (int m = 0; m < M; ++m) {
      double tv = 0.0;
      for (int k = 0; k < K; ++k) {
        double mean = 0.0;
        for (int q = 0; q < M; ++q) mean += w[q] * member_probs[q][i * K + k];
        tv += std::fabs(member_probs[m][i * K + k] - mean);
      }
      out[i] += w[m] * 0.5 * tv;
    }
  }
  return out;
}

double sample_bilinear(const float* map, int w, int h, double u, double v) {
  const double fu = std::floor(u), fv = std::floor(v);
  const double du = u - fu, dv = v - fv;
  auto clampi = [](double p, int hi) { return static_cast<int>(std::min<double>(std::max(p, 0.0), hi - 1)); };
  const int x0 = clampi(fu, w), x1 = clampi(fu + 1, w), y0 = clampi(fv, h), y1 = clampi(fv + 1, h);
  const double a = map[y0 * w + x0], b = map[y0 * w + x1], c = map[y1 * w + x0], d = map[y1 * w + x1];
  return (a * (1 - du) + b * du) * (1 - dv) + (c * (1 - du) + d * du) * dv;
}

Result<CamStack> combine_member_cams(const std::vector<CamStack>& members, int K, const std::vector<double>& weights) {
  if (members.empty() || K < 1) return make_error(ErrorCode::kInvalidArgument, "combine_member_cams: no maps");
  for (const CamStack& c : members)
    if (c.width < 1 || c.height < 1 || c.data.size() != static_cast<std::size_t>(K) * c.width * c.height)
      return make_error(ErrorCode::kInvalidArgument, "combine_member_cams: a member's map is not (K,h,w)");
  const std::vector<double> w = normalised_weights(weights, static_cast<int>(members.size()));
  const CamStack* best = &members[0];
  for (const CamStack& c : members)
    if (c.width * c.height > best->width * best->height) best = &c;
  const int H = best->height, W = best->width;
  std::vector<double> acc(static_cast<std::size_t>(K) * H * W, 0.0);
  for (std::size_t m = 0; m < members.size(); ++m) {
    const CamStack& c = members[m];
    const bool same = c.width == W && c.height == H;
    for (int k = 0; k < K; ++k) {
      const float* plane = c.data.data() + static_cast<std::size_t>(k) * c.width * c.height;
      double top = 0.0;
      for (int i = 0; i < c.width * c.height; ++i) top = std::max(top, static_cast<double>(plane[i]));
      if (!(top > 0.0)) continue;
      for (int y = 0; y < H; ++y)
        for (int x = 0; x < W; ++x) {
          const double u = ((x + 0.5) * c.width) / W - 0.5, v = ((y + 0.5) * c.height) / H - 0.5;
          const double value = same ? plane[y * W + x] : sample_bilinear(plane, c.width, c.height, u, v);
          acc[(static_cast<std::size_t>(k) * H + y) * W + x] += (w[m] * std::max(0.0, value)) / top;
        }
    }
  }
  CamStack out;
  out.width = W;
  out.height = H;
  out.data.assign(acc.begin(), acc.end());
  return out;
}

namespace {

// One member's outputs with its views averaged; fills `view_spread` when asked.
Result<MemberOutput> average_views(const MemberOutput& m, int n, int V, int K, std::vector<double>* view_spread) {
  if (m.probs.size() != static_cast<std::size_t>(n) * V * K)
    return make_error(ErrorCode::kInvalidArgument, "the model returned " + std::to_string(m.probs.size()) +
                                                       " probabilities for " + std::to_string(n * V) + " inputs of " +
                                                       std::to_string(K) + " classes");
  MemberOutput out;
  const bool maps = m.cam_width > 0 && m.cam_height > 0 &&
                    m.cams.size() == static_cast<std::size_t>(n) * V * K * m.cam_width * m.cam_height;
  if (view_spread && V > 1) *view_spread = view_disagreement(m.probs.data(), n, V, K);
  out.probs = V > 1 ? average_view_probs(m.probs.data(), n, V, K) : m.probs;
  if (maps) {
    out.cams = V > 1 ? average_view_cams(m.cams.data(), n, V, K, m.cam_height, m.cam_width) : m.cams;
    out.cam_width = m.cam_width;
    out.cam_height = m.cam_height;
  }
  return out;
}

}  // namespace

Result<CombinedOutput> combine_outputs(const ModelCard& card, const std::vector<MemberOutput>& members, int n, bool tta) {
  const int K = card.class_count();
  const int V = tta ? view_count(card.preprocess.height, card.preprocess.width) : 1;
  const int M = static_cast<int>(members.size());
  if (n < 1 || M < 1 || M != static_cast<int>(card.onnx_files().size()))
    return make_error(ErrorCode::kInvalidArgument, "combine_outputs: " + std::to_string(M) + " outputs for " +
                                                       std::to_string(card.onnx_files().size()) + " model files");
  CombinedOutput out;
  // The out-of-distribution score: each member's mean over its views, then (an ensemble whose card has
  // an "ood" block) the weighted mean of score / threshold. Summed in double in view and member order.
  bool all_ood = true;
  for (const MemberOutput& m : members) all_ood = all_ood && !m.ood.empty();
  if (all_ood && (M == 1 || card.ood.present)) {
    for (const MemberOutput& m : members)
      if (m.ood.size() != static_cast<std::size_t>(n) * V)
        return make_error(ErrorCode::kInvalidArgument, "combine_outputs: an \"ood\" output of the wrong size");
    const std::vector<double> w = normalised_weights([&] {
      std::vector<double> v;
      for (const EnsembleMember& em : card.ensemble.members) v.push_back(em.weight);
      return v;
    }(), M);
    out.ood.assign(n, 0.0);
    for (int i = 0; i < n; ++i) {
      for (int m = 0; m < M; ++m) {
        double s = 0.0;
        for (int v = 0; v < V; ++v) s += members[m].ood[static_cast<std::size_t>(i) * V + v];
        s /= V;
        out.ood[i] += M == 1 ? s : w[m] * s / card.ensemble.members[m].ood.threshold;
      }
    }
  }
  std::vector<MemberOutput> avg;
  for (const MemberOutput& m : members) {
    Result<MemberOutput> a = average_views(m, n, V, K, M == 1 ? &out.view_disagreement : nullptr);
    if (!a) return a.error();
    avg.push_back(a.take());
  }
  bool all_maps = true;
  for (const MemberOutput& a : avg) all_maps = all_maps && !a.cams.empty();
  if (M == 1) {
    out.probs = avg[0].probs;
    if (all_maps) {
      out.cams = avg[0].cams;
      out.cam_width = avg[0].cam_width;
      out.cam_height = avg[0].cam_height;
    }
    return out;
  }
  std::vector<const float*> ptrs;
  for (const MemberOutput& a : avg) ptrs.push_back(a.probs.data());
  Result<std::vector<float>> combined = combine_members(ptrs, n, K, card.head, card.ensemble);
  if (!combined) return combined.error();
  out.probs = combined.take();
  std::vector<double> weights;
  for (const EnsembleMember& em : card.ensemble.members) weights.push_back(em.weight);
  out.disagreement = member_disagreement(ptrs, n, K, weights);
  if (!all_maps) return out;
  for (int i = 0; i < n; ++i) {
    std::vector<CamStack> one(M);
    for (int m = 0; m < M; ++m) {
      const std::size_t plane = static_cast<std::size_t>(K) * avg[m].cam_width * avg[m].cam_height;
      one[m].data.assign(avg[m].cams.begin() + i * plane, avg[m].cams.begin() + (i + 1) * plane);
      one[m].width = avg[m].cam_width;
      one[m].height = avg[m].cam_height;
    }
    Result<CamStack> c = combine_member_cams(one, K, weights);
    if (!c) return c.error();
    out.cam_width = c.value().width;
    out.cam_height = c.value().height;
    out.cams.insert(out.cams.end(), c.value().data.begin(), c.value().data.end());
  }
  return out;
}

}  // namespace cellcam
