// calibration.cpp — see calibration.h.
#include "calibration.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "metrics.h"

namespace cellcam::train {

namespace {

Interval percentile_interval(std::vector<double> v) {
  if (v.empty()) return {std::nan(""), std::nan("")};
  std::sort(v.begin(), v.end());
  auto at = [&](double q) {
    const double pos = q * static_cast<double>(v.size() - 1);
    const std::size_t i = static_cast<std::size_t>(pos);
    const double f = pos - static_cast<double>(i);
    return i + 1 < v.size() ? v[i] * (1 - f) + v[i + 1] * f : v[i];
  };
  return {at(0.025), at(0.975)};
}

}  // namespace

Result<BootstrapIntervals> bootstrap_intervals(const std::vector<std::vector<float>>& probs, const std::vector<int>& labels,
                                               double threshold, int resamples, std::uint64_t seed) {
  Result<Metrics> full = compute_metrics(probs, labels, threshold);  // validates the input
  if (!full) return full.error();
  if (resamples < 10) return make_error(ErrorCode::kInvalidArgument, "bootstrap needs at least 10 resamples");
  const bool binary = full.value().per_class.size() == 2;
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<std::size_t> pick(0, labels.size() - 1);
  std::vector<double> acc, auc, f1, sens, spec;
  std::vector<std::vector<float>> p(labels.size());
  std::vector<int> l(labels.size());
  for (int r = 0; r < resamples; ++r) {
    for (std::size_t i = 0; i < labels.size(); ++i) {
      const std::size_t j = pick(rng);
      p[i] = probs[j];
      l[i] = labels[j];
    }
    Result<Metrics> m = compute_metrics(p, l, threshold);
    if (!m) continue;
    acc.push_back(m.value().accuracy);
    if (std::isfinite(m.value().roc_auc)) auc.push_back(m.value().roc_auc);
    f1.push_back(m.value().macro.f1);
    if (binary) {
      sens.push_back(m.value().per_class[1].recall);
      spec.push_back(m.value().per_class[1].specificity);
    }
  }
  BootstrapIntervals out;
  out.resamples = resamples;
  out.accuracy = percentile_interval(acc);
  out.roc_auc = percentile_interval(auc);
  out.macro_f1 = percentile_interval(f1);
  if (binary) {
    out.sensitivity = percentile_interval(sens);
    out.specificity = percentile_interval(spec);
  }
  return out;
}

Result<Calibration> calibration(const std::vector<std::vector<float>>& probs, const std::vector<int>& labels, int bins) {
  if (bins < 1) return make_error(ErrorCode::kInvalidArgument, "calibration needs at least one bin");
  if (probs.empty() || probs.size() != labels.size()) return make_error(ErrorCode::kInvalidArgument, "calibration needs one label per row");
  Calibration out;
  out.bins.resize(static_cast<std::size_t>(bins));
  std::vector<double> conf_sum(bins, 0.0), correct(bins, 0.0);
  for (std::size_t i = 0; i < probs.size(); ++i) {
    const std::vector<float>& row = probs[i];
    if (row.size() < 2) return make_error(ErrorCode::kInvalidArgument, "calibration needs at least two classes");
    int best = 0;
    for (int c = 1; c < static_cast<int>(row.size()); ++c)
      if (row[c] > row[best]) best = c;
    const double confidence = row[best];
    if (!std::isfinite(confidence)) return make_error(ErrorCode::kInvalidArgument, "calibration: a probability is not finite");
    int b = static_cast<int>(confidence * bins);
    b = std::clamp(b, 0, bins - 1);
    out.bins[b].count++;
    conf_sum[b] += confidence;
    correct[b] += best == labels[i] ? 1.0 : 0.0;
  }
  const double n = static_cast<double>(probs.size());
  for (int b = 0; b < bins; ++b) {
    CalibrationBin& bin = out.bins[b];
    bin.lo = static_cast<double>(b) / bins;
    bin.hi = static_cast<double>(b + 1) / bins;
    if (bin.count == 0) continue;
    bin.confidence = conf_sum[b] / bin.count;
    bin.accuracy = correct[b] / bin.count;
    const double gap = std::abs(bin.accuracy - bin.confidence);
    out.ece += bin.count / n * gap;
    out.max_gap = std::max(out.max_gap, gap);
  }
  return out;
}

}  // namespace cellcam::train
