// stain.cpp — Reinhard (lαβ statistics) and Macenko (optical-density stain vectors) normalisation; the
// contract, the degenerate cases and the determinism rules are in stain.h.
#include "cellcam/stain.h"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

namespace cellcam {

double portable_log(double x) {
  if (x == 0.0) return -HUGE_VAL;
  if (!(x > 0.0)) return std::nan("");
  if (x == HUGE_VAL) return x;
  int e = 0;
  double m = std::frexp(x, &e);  // x = m 2^e, m in [0.5, 1): exact
  if (m < 0.70710678118654752440) {
    m = m * 2.0;
    e = e - 1;
  }
  // ln m = 2 atanh(s), s = (m - 1) / (m + 1), |s| <= 0.1716: 13 odd terms reach double precision.
  const double s = (m - 1.0) / (m + 1.0), s2 = s * s;
  double poly = 1.0 / 27.0;
  for (int k = 12; k >= 0; --k) poly = 1.0 / (2 * k + 1) + s2 * poly;
  const double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
  return e * ln2_hi + (2.0 * s * poly + e * ln2_lo);
}

// ---------------------------------------------------------------- Reinhard: lαβ
namespace {

constexpr double kLn10 = 2.30258509299404568402;
constexpr double kLmsFloor = 1.0 / 255.0;
constexpr double kFlatStd = 1e-4;

// Reinhard et al. 2001, eq. 4 (RGB -> LMS).
constexpr double kRgbToLms[3][3] = {{0.3811, 0.5783, 0.0402}, {0.1967, 0.7244, 0.0782}, {0.0241, 0.1288, 0.8444}};

struct Matrix3 {
  double m[3][3];
};

// The exact inverse of kRgbToLms by cofactors (the paper prints a 4-digit one, which would not round-trip).
Matrix3 lms_to_rgb_matrix() {
  const auto& a = kRgbToLms;
  Matrix3 inv;
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 3; ++c) {
      const int r1 = (c + 1) % 3, r2 = (c + 2) % 3, c1 = (r + 1) % 3, c2 = (r + 2) % 3;
      inv.m[r][c] = a[r1][c1] * a[r2][c2] - a[r1][c2] * a[r2][c1];
    }
  const double det = a[0][0] * inv.m[0][0] + a[0][1] * inv.m[1][0] + a[0][2] * inv.m[2][0];
  for (auto& row : inv.m)
    for (double& v : row) v = v / det;
  return inv;
}

const Matrix3& lms_to_rgb() {
  static const Matrix3 m = lms_to_rgb_matrix();
  return m;
}

}  // namespace

void rgb_to_lalphabeta(const double rgb[3], double lab[3]) {
  double lms[3];
  for (int i = 0; i < 3; ++i) {
    const double v = kRgbToLms[i][0] * rgb[0] + kRgbToLms[i][1] * rgb[1] + kRgbToLms[i][2] * rgb[2];
    lms[i] = portable_log(v > kLmsFloor ? v : kLmsFloor) / kLn10;
  }
  const double s3 = std::sqrt(3.0), s6 = std::sqrt(6.0), s2 = std::sqrt(2.0);
  lab[0] = (lms[0] + lms[1] + lms[2]) / s3;
  lab[1] = (lms[0] + lms[1] - 2.0 * lms[2]) / s6;
  lab[2] = (lms[0] - lms[1]) / s2;
}

void lalphabeta_to_rgb(const double lab[3], double rgb[3]) {
  const double s3 = std::sqrt(3.0), s6 = std::sqrt(6.0), s2 = std::sqrt(2.0);
  const double l = lab[0] / s3, a = lab[1] / s6, b = lab[2] / s2;
  const double log_lms[3] = {l + a + b, l + a - b, l - 2.0 * a};
  double lms[3];
  for (int i = 0; i < 3; ++i) lms[i] = portable_exp(log_lms[i] * kLn10);
  const Matrix3& m = lms_to_rgb();
  for (int i = 0; i < 3; ++i) rgb[i] = m.m[i][0] * lms[0] + m.m[i][1] * lms[1] + m.m[i][2] * lms[2];
}

namespace {

// The foreground's lαβ values, 3 per pixel in pixel order: measured once, used for statistics and transform.
std::vector<double> foreground_lab(const Canvas& canvas, float foreground_above) {
  std::vector<double> lab;
  const std::size_t n = static_cast<std::size_t>(canvas.width) * canvas.height;
  if (canvas.channels != 3 || canvas.data.size() != n * 3) return lab;
  for (std::size_t p = 0; p < n; ++p) {
    const float* px = &canvas.data[p * 3];
    if (!is_stain_foreground(px, 3, foreground_above)) continue;
    const double rgb[3] = {px[0], px[1], px[2]};
    double v[3];
    rgb_to_lalphabeta(rgb, v);
    lab.insert(lab.end(), v, v + 3);
  }
  return lab;
}

LabStats lab_stats(const std::vector<double>& lab) {
  LabStats st;
  st.pixels = lab.size() / 3;
  if (st.pixels == 0) return st;
  double sum[3] = {0, 0, 0}, sq[3] = {0, 0, 0};
  for (std::size_t i = 0; i < lab.size(); i += 3)
    for (int c = 0; c < 3; ++c) sum[c] += lab[i + c];
  for (int c = 0; c < 3; ++c) st.mean[c] = sum[c] / static_cast<double>(st.pixels);
  for (std::size_t i = 0; i < lab.size(); i += 3)  // second pass: no cancellation
    for (int c = 0; c < 3; ++c) {
      const double d = lab[i + c] - st.mean[c];
      sq[c] += d * d;
    }
  for (int c = 0; c < 3; ++c) st.std[c] = std::sqrt(sq[c] / static_cast<double>(st.pixels));
  return st;
}

float clip01(double v) { return !(v > 0.0) ? 0.0f : (v > 1.0 ? 1.0f : static_cast<float>(v)); }  // NaN -> 0

}  // namespace

LabStats reinhard_stats(const Canvas& canvas, float foreground_above) {
  return lab_stats(foreground_lab(canvas, foreground_above));
}

void normalize_stain_reinhard(Canvas& canvas, const StainSpec& stain) {
  if (stain.target_mean.size() != 3 || stain.target_std.size() != 3) return;
  const std::vector<double> lab = foreground_lab(canvas, stain.foreground_above);
  const LabStats st = lab_stats(lab);
  if (st.pixels < kMinStainPixels) return;
  if (st.std[0] < kFlatStd && st.std[1] < kFlatStd && st.std[2] < kFlatStd) return;  // flat: no statistics to match
  double gain[3];
  for (int c = 0; c < 3; ++c) gain[c] = st.std[c] >= kFlatStd ? stain.target_std[c] / st.std[c] : 1.0;
  const std::size_t n = static_cast<std::size_t>(canvas.width) * canvas.height;
  std::size_t i = 0;
  for (std::size_t p = 0; p < n; ++p) {
    float* px = &canvas.data[p * 3];
    if (!is_stain_foreground(px, 3, stain.foreground_above)) continue;
    double v[3], rgb[3];
    for (int c = 0; c < 3; ++c) v[c] = (lab[i + c] - st.mean[c]) * gain[c] + stain.target_mean[c];
    i += 3;
    lalphabeta_to_rgb(v, rgb);
    for (int c = 0; c < 3; ++c) px[c] = clip01(rgb[c]);
  }
}

// ---------------------------------------------------------------- Macenko: optical density
double optical_density(float v) { return -portable_log((static_cast<double>(v) * 255.0 + 1.0) / 256.0); }

Eigen3 symmetric_eigen3(const double a_in[3][3]) {
  double a[3][3], v[3][3] = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}};
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 3; ++c) a[r][c] = a_in[r][c];
  // Cyclic Jacobi: each rotation zeroes a[p][q] (Golub & Van Loan, alg. 8.4.2); converges quadratically,
  // 50 sweeps is a bound never reached.
  for (int sweep = 0; sweep < 50; ++sweep) {
    const double off = a[0][1] * a[0][1] + a[0][2] * a[0][2] + a[1][2] * a[1][2];
    const double diag = a[0][0] * a[0][0] + a[1][1] * a[1][1] + a[2][2] * a[2][2];
    if (off <= 1e-30 * diag || off == 0.0) break;
    for (int p = 0; p < 2; ++p)
      for (int q = p + 1; q < 3; ++q) {
        if (a[p][q] == 0.0) continue;
        const double theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
        const double t = (theta >= 0 ? 1.0 : -1.0) / (std::fabs(theta) + std::sqrt(theta * theta + 1.0));
        const double c = 1.0 / std::sqrt(t * t + 1.0), s = t * c;
        for (int k = 0; k < 3; ++k) {  // A <- A J (columns p, q)
          const double akp = a[k][p], akq = a[k][q];
          a[k][p] = c * akp - s * akq;
          a[k][q] = s * akp + c * akq;
        }
        for (int k = 0; k < 3; ++k) {  // A <- J^T A (rows p, q)
          const double apk = a[p][k], aqk = a[q][k];
          a[p][k] = c * apk - s * aqk;
          a[q][k] = s * apk + c * aqk;
        }
        for (int k = 0; k < 3; ++k) {  // V <- V J: column j of V is eigenvector j
          const double vkp = v[k][p], vkq = v[k][q];
          v[k][p] = c * vkp - s * vkq;
          v[k][q] = s * vkp + c * vkq;
        }
      }
  }
  int order[3] = {0, 1, 2};  // descending eigenvalue, ties by index: a fixed order in both builds
  for (int i = 0; i < 3; ++i)
    for (int j = i + 1; j < 3; ++j)
      if (a[order[j]][order[j]] > a[order[i]][order[i]]) std::swap(order[i], order[j]);
  Eigen3 e;
  for (int i = 0; i < 3; ++i) {
    e.values[i] = a[order[i]][order[i]];
    for (int k = 0; k < 3; ++k) e.vectors[i][k] = v[k][order[i]];
  }
  return e;
}

namespace {

constexpr double kMinGramDet = 1e-4;  // stains closer than ~0.6 degrees cannot be told apart
constexpr double kMinConc = 1e-3;

// A monotone stand-in for atan2(y, x) on (-pi, pi], in (-2, 2]: the "diamond angle". Sorting on it
// orders directions exactly as atan2 would, with no transcendental call. (0, 0) maps to 0.
double pseudo_angle(double x, double y) {
  if (x == 0.0 && y == 0.0) return 0.0;
  double d;
  if (y >= 0.0)
    d = x >= 0.0 ? y / (x + y) : 1.0 - x / (-x + y);
  else
    d = x < 0.0 ? 2.0 - y / (-x - y) : 3.0 + x / (x - y);
  return d > 2.0 ? d - 4.0 : d;
}

// The nearest-rank index of the p-th percentile among n sorted values: integer arithmetic, no interpolation.
std::size_t percentile_index(std::size_t n, int percent) { return ((n - 1) * percent + 50) / 100; }

double dot3(const double* a, const double* b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }

// Every foreground pixel's OD (3 per pixel, pixel order).
std::vector<double> foreground_od(const Canvas& canvas, float foreground_above) {
  std::vector<double> od;
  const std::size_t n = static_cast<std::size_t>(canvas.width) * canvas.height;
  if (canvas.channels != 3 || canvas.data.size() != n * 3) return od;
  for (std::size_t p = 0; p < n; ++p) {
    const float* px = &canvas.data[p * 3];
    if (!is_stain_foreground(px, 3, foreground_above)) continue;
    for (int c = 0; c < 3; ++c) od.push_back(optical_density(px[c]));
  }
  return od;
}

// The plane of the tissue ODs' two largest principal directions: e1 oriented along the mean OD, so the
// tissue's angles cluster around 0, far from atan2's cut at +-pi.
bool principal_plane(const std::vector<double>& tissue, double e1[3], double e2[3]) {
  const double n = static_cast<double>(tissue.size() / 3);
  double mean[3] = {0, 0, 0}, cov[3][3] = {{0, 0, 0}, {0, 0, 0}, {0, 0, 0}};
  for (std::size_t i = 0; i < tissue.size(); i += 3)
    for (int c = 0; c < 3; ++c) mean[c] += tissue[i + c];
  for (double& m : mean) m = m / n;
  for (std::size_t i = 0; i < tissue.size(); i += 3)
    for (int r = 0; r < 3; ++r)
      for (int c = r; c < 3; ++c) cov[r][c] += (tissue[i + r] - mean[r]) * (tissue[i + c] - mean[c]);
  for (int r = 0; r < 3; ++r)
    for (int c = r; c < 3; ++c) cov[c][r] = cov[r][c] = cov[r][c] / n;
  const Eigen3 e = symmetric_eigen3(cov);
  if (!(e.values[1] > 0.0)) return false;  // the ODs lie on a line: one stain or none
  const double s1 = dot3(e.vectors[0], mean) < 0.0 ? -1.0 : 1.0, s2 = e.vectors[1][0] < 0.0 ? -1.0 : 1.0;
  for (int c = 0; c < 3; ++c) {
    e1[c] = s1 * e.vectors[0][c];
    e2[c] = s2 * e.vectors[1][c];
  }
  return true;
}

// The unit direction of tissue pixel i projected on the plane (cos phi e1 + sin phi e2); false if it has none.
bool plane_direction(const double* od, const double e1[3], const double e2[3], double out[3]) {
  const double t1 = dot3(od, e1), t2 = dot3(od, e2), r = std::sqrt(t1 * t1 + t2 * t2);
  if (!(r > 1e-12)) return false;
  for (int c = 0; c < 3; ++c) out[c] = (t1 / r) * e1[c] + (t2 / r) * e2[c];
  return true;
}

// Least squares c = (S S^T)^-1 S od for the 2x3 stain matrix S: the 2x3 pseudo-inverse, or false.
bool stain_pseudo_inverse(const double stains[2][3], double pinv[2][3]) {
  const double hh = dot3(stains[0], stains[0]), ee = dot3(stains[1], stains[1]), he = dot3(stains[0], stains[1]);
  const double det = hh * ee - he * he;
  if (!(det > kMinGramDet * hh * ee)) return false;
  for (int c = 0; c < 3; ++c) {
    pinv[0][c] = (ee * stains[0][c] - he * stains[1][c]) / det;
    pinv[1][c] = (hh * stains[1][c] - he * stains[0][c]) / det;
  }
  return true;
}

struct MacenkoFit {
  MacenkoStains stains;
  double pinv[2][3];
};

std::optional<MacenkoFit> fit_macenko(const std::vector<double>& od) {
  std::vector<double> tissue;
  for (std::size_t i = 0; i < od.size(); i += 3)
    if (od[i] >= kMacenkoBeta && od[i + 1] >= kMacenkoBeta && od[i + 2] >= kMacenkoBeta)
      tissue.insert(tissue.end(), od.begin() + i, od.begin() + i + 3);
  const std::size_t n = tissue.size() / 3;
  if (n < kMinStainPixels) return std::nullopt;
  double e1[3], e2[3];
  if (!principal_plane(tissue, e1, e2)) return std::nullopt;
  // (angle, pixel) pairs: unique keys, so libstdc++'s and libc++'s sorts give the same order.
  std::vector<std::pair<double, std::size_t>> angles(n);
  for (std::size_t k = 0; k < n; ++k)
    angles[k] = {pseudo_angle(dot3(&tissue[3 * k], e1), dot3(&tissue[3 * k], e2)), k};
  std::sort(angles.begin(), angles.end());
  double lo[3], hi[3];
  if (!plane_direction(&tissue[3 * angles[percentile_index(n, kMacenkoAlphaPercent)].second], e1, e2, lo) ||
      !plane_direction(&tissue[3 * angles[percentile_index(n, 100 - kMacenkoAlphaPercent)].second], e1, e2, hi))
    return std::nullopt;
  MacenkoFit fit;
  fit.stains.tissue_pixels = n;
  const bool lo_is_h = lo[0] > hi[0];  // haematoxylin absorbs more red than eosin
  for (int c = 0; c < 3; ++c) {
    fit.stains.stains[0][c] = lo_is_h ? lo[c] : hi[c];
    fit.stains.stains[1][c] = lo_is_h ? hi[c] : lo[c];
  }
  if (!stain_pseudo_inverse(fit.stains.stains, fit.pinv)) return std::nullopt;
  const std::size_t m = od.size() / 3;
  for (int s = 0; s < 2; ++s) {
    std::vector<double> conc(m);
    for (std::size_t k = 0; k < m; ++k) conc[k] = dot3(fit.pinv[s], &od[3 * k]);
    std::sort(conc.begin(), conc.end());  // values only: ties are equal, any sort gives the same sequence
    fit.stains.max_conc[s] = conc[percentile_index(m, kMacenkoMaxConcPercent)];
    if (!(fit.stains.max_conc[s] > kMinConc)) return std::nullopt;
  }
  return fit;
}

}  // namespace

std::optional<MacenkoStains> estimate_macenko(const Canvas& canvas, float foreground_above) {
  std::optional<MacenkoFit> fit = fit_macenko(foreground_od(canvas, foreground_above));
  if (!fit) return std::nullopt;
  return fit->stains;
}

void normalize_stain_macenko(Canvas& canvas, const StainSpec& stain) {
  if (stain.target_stains.size() != 6 || stain.target_max_conc.size() != 2) return;
  const std::vector<double> od = foreground_od(canvas, stain.foreground_above);
  const std::optional<MacenkoFit> fit = fit_macenko(od);
  if (!fit) return;
  const double scale[2] = {stain.target_max_conc[0] / fit->stains.max_conc[0],
                           stain.target_max_conc[1] / fit->stains.max_conc[1]};
  const std::size_t n = static_cast<std::size_t>(canvas.width) * canvas.height;
  std::size_t i = 0;
  for (std::size_t p = 0; p < n; ++p) {
    float* px = &canvas.data[p * 3];
    if (!is_stain_foreground(px, 3, stain.foreground_above)) continue;
    const double ch = dot3(fit->pinv[0], &od[i]) * scale[0], ce = dot3(fit->pinv[1], &od[i]) * scale[1];
    i += 3;
    for (int c = 0; c < 3; ++c) {
      const double density = ch * stain.target_stains[c] + ce * stain.target_stains[3 + c];
      px[c] = clip01((256.0 * portable_exp(-density) - 1.0) / 255.0);
    }
  }
}

}  // namespace cellcam
