// ood.cpp — see ood.h.
#include "cellcam/ood.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace cellcam {

double mahalanobis_score(const float* f, const OodStats& s) {
  const int F = s.features;
  std::vector<double> z(static_cast<std::size_t>(F), 0.0);
  for (int i = 0; i < F; ++i) {
    const double fi = f[i];
    const float* row = s.whiten.data() + static_cast<std::size_t>(i) * F;
    for (int j = 0; j < F; ++j) z[j] += fi * row[j];
  }
  double best = std::numeric_limits<double>::infinity();
  for (int c = 0; c < s.classes; ++c) {
    const float* m = s.centres.data() + static_cast<std::size_t>(c) * F;
    double d = 0.0;
    for (int j = 0; j < F; ++j) d += (z[j] - m[j]) * (z[j] - m[j]);
    best = std::min(best, d);
  }
  return best;
}

Result<OodStats> fit_mahalanobis(const std::vector<float>& features, const std::vector<int>& labels, int F, int C, double shrinkage) {
  const std::size_t n = labels.size();
  if (F < 1 || C < 1 || features.size() != n * static_cast<std::size_t>(F))
    return make_error(ErrorCode::kInvalidArgument, "fit_mahalanobis: features are not (n, F)");
  if (n < 2) return make_error(ErrorCode::kInvalidArgument, "fit_mahalanobis: fewer than two samples");
  std::vector<double> mean(static_cast<std::size_t>(C) * F, 0.0);
  std::vector<int> count(C, 0);
  for (std::size_t i = 0; i < n; ++i) {
    const int y = labels[i];
    if (y < 0 || y >= C) return make_error(ErrorCode::kInvalidArgument, "fit_mahalanobis: a label outside [0, C)");
    ++count[y];
    for (int j = 0; j < F; ++j) mean[static_cast<std::size_t>(y) * F + j] += features[i * F + j];
  }
  for (int c = 0; c < C; ++c) {
    if (count[c] == 0) return make_error(ErrorCode::kInvalidArgument, "fit_mahalanobis: class " + std::to_string(c) + " has no samples");
    for (int j = 0; j < F; ++j) mean[static_cast<std::size_t>(c) * F + j] /= count[c];
  }
  // Sigma = the within-class scatter / n.
  std::vector<double> cov(static_cast<std::size_t>(F) * F, 0.0), d(F);
  for (std::size_t i = 0; i < n; ++i) {
    for (int j = 0; j < F; ++j) d[j] = features[i * F + j] - mean[static_cast<std::size_t>(labels[i]) * F + j];
    for (int a = 0; a < F; ++a) {
      if (d[a] == 0.0) continue;
      double* row = cov.data() + static_cast<std::size_t>(a) * F;
      for (int b = 0; b <= a; ++b) row[b] += d[a] * d[b];
    }
  }
  double trace = 0.0;
  for (int a = 0; a < F; ++a) {
    for (int b = 0; b <= a; ++b) cov[static_cast<std::size_t>(a) * F + b] /= static_cast<double>(n);
    trace += cov[static_cast<std::size_t>(a) * F + a];
  }
  const double lambda = std::max(shrinkage * trace / F, 1e-12);
  for (int a = 0; a < F; ++a) cov[static_cast<std::size_t>(a) * F + a] += lambda;
  // Cholesky (lower): L L^T = cov.
  std::vector<double> L(static_cast<std::size_t>(F) * F, 0.0);
  for (int a = 0; a < F; ++a) {
    for (int b = 0; b <= a; ++b) {
      double sum = cov[static_cast<std::size_t>(a) * F + b];
      for (int k = 0; k < b; ++k) sum -= L[static_cast<std::size_t>(a) * F + k] * L[static_cast<std::size_t>(b) * F + k];
      if (a == b) {
        if (!(sum > 0.0)) return make_error(ErrorCode::kInvalidArgument, "fit_mahalanobis: the covariance is not positive definite");
        L[static_cast<std::size_t>(a) * F + a] = std::sqrt(sum);
      } else {
        L[static_cast<std::size_t>(a) * F + b] = sum / L[static_cast<std::size_t>(b) * F + b];
      }
    }
  }
  // Linv = L^-1 (lower), by forward substitution column by column; W = Linv^T, i.e. W[i][j] = Linv[j][i].
  std::vector<double> Linv(static_cast<std::size_t>(F) * F, 0.0);
  for (int col = 0; col < F; ++col) {
    for (int a = col; a < F; ++a) {
      double sum = a == col ? 1.0 : 0.0;
      for (int k = col; k < a; ++k) sum -= L[static_cast<std::size_t>(a) * F + k] * Linv[static_cast<std::size_t>(k) * F + col];
      Linv[static_cast<std::size_t>(a) * F + col] = sum / L[static_cast<std::size_t>(a) * F + a];
    }
  }
  OodStats s;
  s.features = F;
  s.classes = C;
  s.whiten.resize(static_cast<std::size_t>(F) * F);
  for (int i = 0; i < F; ++i)
    for (int j = 0; j < F; ++j) s.whiten[static_cast<std::size_t>(i) * F + j] = static_cast<float>(Linv[static_cast<std::size_t>(j) * F + i]);
  s.centres.assign(static_cast<std::size_t>(C) * F, 0.0f);
  for (int c = 0; c < C; ++c)
    for (int j = 0; j < F; ++j) {
      double v = 0.0;
      for (int i = 0; i < F; ++i) v += mean[static_cast<std::size_t>(c) * F + i] * s.whiten[static_cast<std::size_t>(i) * F + j];
      s.centres[static_cast<std::size_t>(c) * F + j] = static_cast<float>(v);
    }
  return s;
}

Result<double> ood_threshold(std::vector<double> scores, double pass_rate) {
  if (scores.empty()) return make_error(ErrorCode::kInvalidArgument, "no scores to choose an out-of-distribution threshold on");
  if (!(pass_rate > 0.0 && pass_rate <= 1.0)) return make_error(ErrorCode::kInvalidArgument, "the pass rate must be in (0, 1]");
  std::sort(scores.begin(), scores.end());
  const std::size_t k = static_cast<std::size_t>(std::ceil(pass_rate * static_cast<double>(scores.size()) - 1e-9));
  return scores[std::min(scores.size(), std::max<std::size_t>(k, 1)) - 1];
}

}  // namespace cellcam
