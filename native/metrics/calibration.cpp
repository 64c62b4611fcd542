// calibration.cpp — see calibration.h.
#include "calibration.h"

#include "ensemble.h"

#include <algorithm>
#include <cmath>
#include <limits>
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

// ---- temperature scaling

namespace {

// log p(label) for one row of logits at inverse temperature beta, in double, overflow-safe.
double log_likelihood(const std::vector<float>& z, int label, bool binary, double beta) {
  if (binary) {
    const double s = beta * z[0];
    const double signed_s = label == 1 ? s : -s;  // log sigmoid(signed_s)
    return signed_s >= 0 ? -std::log1p(std::exp(-signed_s)) : signed_s - std::log1p(std::exp(signed_s));
  }
  double top = -INFINITY;
  for (float v : z) top = std::max(top, beta * v);
  double sum = 0.0;
  for (float v : z) sum += std::exp(beta * v - top);
  return beta * z[static_cast<std::size_t>(label)] - top - std::log(sum);
}

}  // namespace

std::vector<std::vector<float>> probabilities_at(const std::vector<std::vector<float>>& logits, bool binary, double temperature) {
  std::vector<std::vector<float>> out;
  out.reserve(logits.size());
  const double beta = 1.0 / temperature;
  for (const std::vector<float>& z : logits) {
    if (binary) {
      const double p = 1.0 / (1.0 + std::exp(-beta * z[0]));
      out.push_back({static_cast<float>(1.0 - p), static_cast<float>(p)});
      continue;
    }
    double top = -INFINITY, sum = 0.0;
    for (float v : z) top = std::max(top, beta * v);
    std::vector<double> e;
    for (float v : z) {
      e.push_back(std::exp(beta * v - top));
      sum += e.back();
    }
    std::vector<float> row;
    for (double v : e) row.push_back(static_cast<float>(v / sum));
    out.push_back(std::move(row));
  }
  return out;
}

double mean_nll(const std::vector<std::vector<float>>& logits, const std::vector<int>& labels, bool binary, double temperature) {
  double sum = 0.0;
  for (std::size_t i = 0; i < logits.size(); ++i) sum -= log_likelihood(logits[i], labels[i], binary, 1.0 / temperature);
  return logits.empty() ? 0.0 : sum / static_cast<double>(logits.size());
}

Result<double> fit_temperature(const std::vector<std::vector<float>>& logits, const std::vector<int>& labels, bool binary) {
  if (logits.empty() || logits.size() != labels.size())
    return make_error(ErrorCode::kInvalidArgument, "temperature scaling needs as many labels as logit rows, and at least one");
  for (std::size_t i = 0; i < logits.size(); ++i) {
    const std::size_t width = binary ? 1 : logits[i].size();
    if (logits[i].size() != width || width < 1 || labels[i] < 0 || (binary ? labels[i] > 1 : labels[i] >= static_cast<int>(width)))
      return make_error(ErrorCode::kInvalidArgument, "temperature scaling: row " + std::to_string(i) + " has the wrong width or label");
    for (float v : logits[i])
      if (!std::isfinite(v)) return make_error(ErrorCode::kInvalidArgument, "temperature scaling: a logit is not finite");
  }
  // NLL(beta) is convex in beta = 1/T (a log-sum-exp of functions linear in beta): golden section is exact enough.
  const double phi = (std::sqrt(5.0) - 1.0) / 2.0;
  double lo = 1.0 / 20.0, hi = 1.0 / 0.05;
  auto nll = [&](double beta) { return mean_nll(logits, labels, binary, 1.0 / beta); };
  double a = hi - phi * (hi - lo), b = lo + phi * (hi - lo);
  double fa = nll(a), fb = nll(b);
  for (int it = 0; it < 100 && hi - lo > 1e-7; ++it) {
    if (fa <= fb) {
      hi = b;
      b = a;
      fb = fa;
      a = hi - phi * (hi - lo);
      fa = nll(a);
    } else {
      lo = a;
      a = b;
      fa = fb;
      b = lo + phi * (hi - lo);
      fb = nll(b);
    }
  }
  return 1.0 / ((lo + hi) / 2.0);
}

double threshold_at(double threshold, double temperature) {
  if (!(threshold > 0.0) || !(threshold < 1.0)) return threshold;  // 0 and 1 stay where they are
  const double z = std::log(threshold / (1.0 - threshold));
  return 1.0 / (1.0 + std::exp(-z / temperature));
}

double threshold_keeping_decisions(const std::vector<std::vector<float>>& raw, const std::vector<std::vector<float>>& calibrated,
                                   double threshold, double temperature) {
  // lowest: the boundary image's calibrated score (the smallest at or above); highest_below: the largest
  // calibrated score of the images below. When threshold_at is not at least kMargin under `lowest` (ONNX
  // Runtime, LibTorch and this function's inputs may round that image's score a few ulps apart, ~3e-8 at
  // 0.5), it goes kMargin under it, but never under the middle of the gap, so the images below stay below.
  // Either way it stays within about kMargin of threshold_at: decisions on other images stay as they were.
  constexpr double kMargin = 1e-6;
  double lowest = std::numeric_limits<double>::infinity(), highest_below = -std::numeric_limits<double>::infinity();
  for (std::size_t i = 0; i < raw.size() && i < calibrated.size(); ++i) {
    const double p = calibrated[i][1];
    if (static_cast<double>(raw[i][1]) >= threshold) lowest = std::min(lowest, p);
    else highest_below = std::max(highest_below, p);
  }
  const double moved = threshold_at(threshold, temperature);
  if (!std::isfinite(lowest)) return moved;
  if (lowest - kMargin >= moved) return moved;
  if (!(highest_below < lowest)) return std::min(moved, lowest);  // tied in float: nothing separates them
  return std::max(lowest - kMargin, 0.5 * (highest_below + lowest));
}

// ---- uncertainty and referral

namespace {

double score(const std::vector<float>& probs, bool binary) {
  return binary ? probs[1] : *std::max_element(probs.begin(), probs.end());
}

// Each prediction's uncertainty and whether its decision was right: what the score-based referral
// functions of ensemble.h rank (one ranking for the margin here and for any other score there).
struct ScoredDecisions {
  std::vector<double> uncertainty;
  std::vector<int> correct;
};

ScoredDecisions score_decisions(const std::vector<std::vector<float>>& probs, const std::vector<int>& labels, double threshold,
                                bool binary) {
  ScoredDecisions d;
  for (const std::vector<float>& row : probs) d.uncertainty.push_back(uncertainty(row, threshold, binary));
  d.correct = correct_decisions(probs, labels, threshold);
  return d;
}

}  // namespace

double uncertainty(const std::vector<float>& probs, double threshold, bool binary) {
  if (!binary) return 1.0 - score(probs, false);
  const double p = probs[1];
  const double scale = p < threshold ? threshold : 1.0 - threshold;
  return scale > 0.0 ? 1.0 - std::abs(p - threshold) / scale : 0.0;
}

std::vector<ReferralPoint> referral_curve(const std::vector<std::vector<float>>& probs, const std::vector<int>& labels,
                                          double threshold, bool binary, double max_rate, double step) {
  const ScoredDecisions d = score_decisions(probs, labels, threshold, binary);
  std::vector<ReferralPoint> out;
  for (const auto& [rate, accuracy] : referral_curve_by_score(d.uncertainty, d.correct, max_rate, step)) {
    ReferralPoint pt;
    pt.rate = rate;
    pt.kept = static_cast<long long>(std::llround(static_cast<double>(probs.size()) * (1.0 - rate)));
    pt.accuracy = accuracy;
    out.push_back(pt);
  }
  return out;
}

ReviewBand band_for_cutoff(double cutoff, double threshold, bool binary) {
  ReviewBand b;
  b.cutoff = cutoff;
  if (binary) {
    b.lo = cutoff * threshold;
    b.hi = threshold + (1.0 - cutoff) * (1.0 - threshold);
  } else {
    b.lo = 0.0;
    b.hi = 1.0 - cutoff;
  }
  return b;
}

ReviewBand apply_review_band(const std::vector<std::vector<float>>& probs, const std::vector<int>& labels, double threshold,
                             bool binary, double lo, double hi) {
  ReviewBand b;
  b.lo = lo;
  b.hi = hi;
  long long referred = 0, kept = 0, correct = 0;
  for (std::size_t i = 0; i < probs.size(); ++i) {
    const double s = score(probs[i], binary);
    if (s >= lo && s <= hi) {
      ++referred;
      continue;
    }
    ++kept;
    correct += predicted_class(probs[i], threshold) == labels[i] ? 1 : 0;
  }
  b.referred_share = probs.empty() ? 0.0 : static_cast<double>(referred) / static_cast<double>(probs.size());
  b.kept_accuracy = kept > 0 ? static_cast<double>(correct) / static_cast<double>(kept) : 1.0;
  return b;
}

Result<ReviewBand> choose_review_band(const std::vector<std::vector<float>>& probs, const std::vector<int>& labels,
                                      double threshold, bool binary, double target_accuracy, double max_rate) {
  if (probs.empty() || probs.size() != labels.size())
    return make_error(ErrorCode::kInvalidArgument, "choosing a review band needs as many labels as predictions, and at least one");
  // The fewest referrals reaching the target (ensemble.h's cutoff search on the margin uncertainty); a
  // band that refers nothing is the cutoff 1, the uncertainty of a score on the threshold itself.
  const ScoredDecisions d = score_decisions(probs, labels, threshold, binary);
  Result<ReferralCutoff> c = choose_referral_cutoff(d.uncertainty, d.correct, target_accuracy, max_rate);
  if (!c) return c.error();
  ReviewBand b = band_for_cutoff(c.value().referred_share == 0.0 ? 1.0 : std::min(c.value().cutoff, 1.0), threshold, binary);
  b.referred_share = c.value().referred_share;
  b.kept_accuracy = c.value().kept_accuracy;
  b.target_accuracy = target_accuracy;
  b.reached = c.value().reached;
  return b;
}

}  // namespace cellcam::train
