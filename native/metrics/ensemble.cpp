// ensemble.cpp — see ensemble.h. The meta-model is small (at most a few hundred parameters), so Newton's
// method with a dense Hessian and a Cholesky solve converges in a handful of steps, exactly and
// deterministically, where gradient descent would need a learning rate and thousands of steps.
#include "ensemble.h"

#include "cellcam/ensemble.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "metrics.h"

namespace cellcam::train {

namespace {

constexpr double kClamp = 1e-6;

Result<bool> check_members(const std::vector<ProbabilityTable>& members) {
  if (members.empty()) return make_error(ErrorCode::kInvalidArgument, "an ensemble needs at least one member");
  const std::size_t n = members[0].size();
  const std::size_t k = n > 0 ? members[0][0].size() : 0;
  for (const ProbabilityTable& m : members) {
    if (m.size() != n) return make_error(ErrorCode::kInvalidArgument, "the members scored different numbers of images");
    for (const std::vector<float>& row : m)
      if (row.size() != k || k < 2) return make_error(ErrorCode::kInvalidArgument, "the members' rows differ in class count");
  }
  return true;
}


double clamped(double p) { return std::min(1.0 - kClamp, std::max(kClamp, p)); }

int outputs_of(const StackingModel& model) { return model.binary ? 1 : model.classes; }

// Class probabilities of one feature row. out: K values.
void meta_probabilities(const StackingModel& model, const std::vector<double>& x, std::vector<double>& out) {
  const int outputs = outputs_of(model);
  std::vector<double> z(static_cast<std::size_t>(outputs));
  for (int o = 0; o < outputs; ++o) {
    double s = model.intercepts[static_cast<std::size_t>(o)];
    const std::vector<double>& w = model.weights[static_cast<std::size_t>(o)];
    for (std::size_t f = 0; f < x.size(); ++f) s += w[f] * x[f];
    z[static_cast<std::size_t>(o)] = s;
  }
  out.assign(static_cast<std::size_t>(model.classes), 0.0);
  if (model.binary) {
    const double p = 1.0 / (1.0 + std::exp(-z[0]));
    out[0] = 1.0 - p;
    out[1] = p;
    return;
  }
  const double top = *std::max_element(z.begin(), z.end());
  double sum = 0.0;
  for (int k = 0; k < outputs; ++k) sum += (out[static_cast<std::size_t>(k)] = std::exp(z[static_cast<std::size_t>(k)] - top));
  for (double& v : out) v /= sum;
}

// Cholesky solve of the symmetric positive definite (P,P) system A x = b, in place in b. False if A is
// not positive definite (cannot happen with l2 > 0, checked anyway).
bool cholesky_solve(std::vector<double> a, std::vector<double>& b, std::size_t p) {
  for (std::size_t j = 0; j < p; ++j) {
    double d = a[j * p + j];
    for (std::size_t k = 0; k < j; ++k) d -= a[j * p + k] * a[j * p + k];
    if (!(d > 0.0)) return false;
    d = std::sqrt(d);
    a[j * p + j] = d;
    for (std::size_t i = j + 1; i < p; ++i) {
      double s = a[i * p + j];
      for (std::size_t k = 0; k < j; ++k) s -= a[i * p + k] * a[j * p + k];
      a[i * p + j] = s / d;
    }
  }
  for (std::size_t i = 0; i < p; ++i) {  // L y = b
    double s = b[i];
    for (std::size_t k = 0; k < i; ++k) s -= a[i * p + k] * b[k];
    b[i] = s / a[i * p + i];
  }
  for (std::size_t i = p; i-- > 0;) {  // L^T x = y
    double s = b[i];
    for (std::size_t k = i + 1; k < p; ++k) s -= a[k * p + i] * b[k];
    b[i] = s / a[i * p + i];
  }
  return true;
}

double objective(const StackingModel& model, const std::vector<std::vector<double>>& x, const std::vector<int>& labels) {
  std::vector<double> p;
  double loss = 0.0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    meta_probabilities(model, x[i], p);
    loss -= std::log(std::max(p[static_cast<std::size_t>(labels[i])], 1e-300));
  }
  loss /= static_cast<double>(x.size());
  double penalty = 0.0;
  for (std::size_t o = 0; o < model.weights.size(); ++o) {
    for (double w : model.weights[o]) penalty += model.l2 * w * w;
    penalty += model.l2 * 1e-4 * model.intercepts[o] * model.intercepts[o];
  }
  return loss + 0.5 * penalty;
}

}  // namespace

Result<std::vector<double>> normalised_weights(const std::vector<double>& weights, std::size_t m) {
  if (weights.empty()) return std::vector<double>(m, 1.0 / static_cast<double>(m));
  if (weights.size() != m)
    return make_error(ErrorCode::kInvalidArgument,
                      std::to_string(weights.size()) + " weights for " + std::to_string(m) + " members");
  double sum = 0.0;
  for (double w : weights) {
    if (!(w >= 0.0) || !std::isfinite(w)) return make_error(ErrorCode::kInvalidArgument, "ensemble weights must be finite and >= 0");
    sum += w;
  }
  if (!(sum > 0.0)) return make_error(ErrorCode::kInvalidArgument, "ensemble weights must not all be 0");
  std::vector<double> out(weights);
  for (double& w : out) w /= sum;
  return out;
}

// The members as the shared rules take them: M flat (N,K) arrays.
std::vector<std::vector<float>> flat_members(const std::vector<ProbabilityTable>& members) {
  std::vector<std::vector<float>> flat;
  for (const ProbabilityTable& m : members) {
    std::vector<float> f;
    for (const std::vector<float>& row : m) f.insert(f.end(), row.begin(), row.end());
    flat.push_back(std::move(f));
  }
  return flat;
}

ProbabilityTable table_of(const std::vector<float>& flat, std::size_t n, std::size_t k) {
  ProbabilityTable out(n);
  for (std::size_t i = 0; i < n; ++i) out[i].assign(flat.begin() + i * k, flat.begin() + (i + 1) * k);
  return out;
}

// Soft voting, disagreement and the stacking meta-model are the shared rules (cellcam/ensemble.h), which
// the page and `cellcam predict` apply; here they take the trainer's tables.
Result<ProbabilityTable> soft_vote(const std::vector<ProbabilityTable>& members, const std::vector<double>& weights) {
  Result<bool> ok = check_members(members);
  if (!ok) return ok.error();
  Result<std::vector<double>> w = normalised_weights(weights, members.size());
  if (!w) return w.error();
  const std::size_t n = members[0].size(), k = n ? members[0][0].size() : 0;
  if (n == 0) return ProbabilityTable{};
  const std::vector<std::vector<float>> flat = flat_members(members);
  std::vector<const float*> ptrs;
  for (const std::vector<float>& f : flat) ptrs.push_back(f.data());
  EnsembleInfo e;
  for (double v : w.value()) e.members.push_back(EnsembleMember{"", {}, v, 1.0, {}, "{}"});
  Result<std::vector<float>> out = combine_members(ptrs, static_cast<int>(n), static_cast<int>(k), k == 2 ? HeadKind::kBinary : HeadKind::kMulticlass, e);
  if (!out) return out.error();
  return table_of(out.value(), n, k);
}

Result<std::vector<double>> disagreement(const std::vector<ProbabilityTable>& members, const std::vector<double>& weights) {
  Result<bool> ok = check_members(members);
  if (!ok) return ok.error();
  Result<std::vector<double>> w = normalised_weights(weights, members.size());
  if (!w) return w.error();
  const std::size_t n = members[0].size(), k = n ? members[0][0].size() : 0;
  const std::vector<std::vector<float>> flat = flat_members(members);
  std::vector<const float*> ptrs;
  for (const std::vector<float>& f : flat) ptrs.push_back(f.data());
  return member_disagreement(ptrs, static_cast<int>(n), static_cast<int>(k), w.value());
}

std::vector<std::vector<double>> stacking_features(const std::vector<ProbabilityTable>& members, bool binary) {
  const std::size_t n = members.empty() ? 0 : members[0].size();
  std::vector<std::vector<double>> x(n);
  for (std::size_t i = 0; i < n; ++i)
    for (const ProbabilityTable& m : members) {
      if (binary) {
        const double p = clamped(m[i][1]);
        x[i].push_back(std::log(p / (1.0 - p)));
      } else {
        for (float v : m[i]) x[i].push_back(std::log(clamped(v)));
      }
    }
  return x;
}

Result<StackingModel> fit_stacking(const std::vector<ProbabilityTable>& members, const std::vector<int>& labels, bool binary,
                                   double l2, int max_iterations) {
  Result<bool> ok = check_members(members);
  if (!ok) return ok.error();
  const std::size_t n = members[0].size();
  if (n == 0 || labels.size() != n) return make_error(ErrorCode::kInvalidArgument, "stacking needs one label per scored image");
  StackingModel model;
  model.binary = binary;
  model.members = static_cast<int>(members.size());
  model.classes = static_cast<int>(members[0][0].size());
  if (binary && model.classes != 2) return make_error(ErrorCode::kInvalidArgument, "a binary meta-model needs two classes");
  for (int y : labels)
    if (y < 0 || y >= model.classes) return make_error(ErrorCode::kInvalidArgument, "a label is outside the classes");
  const std::vector<std::vector<double>> x = stacking_features(members, binary);
  const std::size_t features = x[0].size();
  const int outputs = outputs_of(model);
  model.l2 = l2 < 0.0 ? 1.0 / static_cast<double>(n) : l2;
  model.weights.assign(static_cast<std::size_t>(outputs), std::vector<double>(features, 0.0));
  model.intercepts.assign(static_cast<std::size_t>(outputs), 0.0);

  // θ = (outputs, features + 1), the intercept last in each row.
  const std::size_t row = features + 1;
  const std::size_t params = static_cast<std::size_t>(outputs) * row;
  auto penalty_of = [&](std::size_t j) { return j % row == features ? model.l2 * 1e-4 : model.l2; };
  double current = objective(model, x, labels);
  std::vector<double> p;
  for (model.iterations = 0; model.iterations < max_iterations; ++model.iterations) {
    std::vector<double> grad(params, 0.0), hess(params * params, 0.0);
    for (std::size_t i = 0; i < n; ++i) {
      meta_probabilities(model, x[i], p);
      // residual and curvature per output: binary r = p1 - y, c = p1 (1 - p1); softmax r_k = p_k - [y = k],
      // c_kl = p_k ([k = l] - p_l).
      for (int a = 0; a < outputs; ++a) {
        const std::size_t ka = static_cast<std::size_t>(binary ? 1 : a);
        const double r = p[ka] - (labels[i] == static_cast<int>(ka) ? 1.0 : 0.0);
        for (std::size_t f = 0; f <= features; ++f) grad[static_cast<std::size_t>(a) * row + f] += r * (f < features ? x[i][f] : 1.0);
        for (int b = 0; b < outputs; ++b) {
          const std::size_t kb = static_cast<std::size_t>(binary ? 1 : b);
          const double c = binary ? p[1] * (1.0 - p[1]) : p[ka] * ((a == b ? 1.0 : 0.0) - p[kb]);
          if (c == 0.0) continue;
          for (std::size_t f = 0; f <= features; ++f) {
            const double xf = f < features ? x[i][f] : 1.0;
            double* h = &hess[(static_cast<std::size_t>(a) * row + f) * params + static_cast<std::size_t>(b) * row];
            for (std::size_t g = 0; g <= features; ++g) h[g] += c * xf * (g < features ? x[i][g] : 1.0);
          }
        }
      }
    }
    double grad_norm = 0.0;
    for (std::size_t j = 0; j < params; ++j) {
      const double theta = j % row == features ? model.intercepts[j / row] : model.weights[j / row][j % row];
      grad[j] = grad[j] / static_cast<double>(n) + penalty_of(j) * theta;
      for (std::size_t k = 0; k < params; ++k) hess[j * params + k] /= static_cast<double>(n);
      hess[j * params + j] += penalty_of(j);
      grad_norm = std::max(grad_norm, std::abs(grad[j]));
    }
    if (grad_norm < 1e-9) {
      model.converged = true;
      break;
    }
    std::vector<double> step = grad;
    if (!cholesky_solve(hess, step, params)) return make_error(ErrorCode::kInvalidArgument, "stacking: the Hessian is not positive definite");
    // Damped Newton: halve the step until the objective goes down (a full step nearly always does).
    StackingModel trial = model;
    double scale = 1.0;
    double next = current;
    for (int halvings = 0; halvings < 30; ++halvings, scale *= 0.5) {
      for (std::size_t j = 0; j < params; ++j) {
        const double v = (j % row == features ? model.intercepts[j / row] : model.weights[j / row][j % row]) - scale * step[j];
        (j % row == features ? trial.intercepts[j / row] : trial.weights[j / row][j % row]) = v;
      }
      next = objective(trial, x, labels);
      if (next <= current) break;
    }
    if (!(next <= current)) {  // no descent left at float precision: at the optimum
      model.converged = true;
      break;
    }
    const bool small = current - next < 1e-13;
    model.weights = trial.weights;
    model.intercepts = trial.intercepts;
    current = next;
    if (small) {
      model.converged = true;
      ++model.iterations;
      break;
    }
  }
  model.loss = current;
  return model;
}

Result<ProbabilityTable> apply_stacking(const StackingModel& model, const std::vector<ProbabilityTable>& members) {
  Result<bool> ok = check_members(members);
  if (!ok) return ok.error();
  if (static_cast<int>(members.size()) != model.members || (!members[0].empty() && static_cast<int>(members[0][0].size()) != model.classes))
    return make_error(ErrorCode::kInvalidArgument, "the meta-model was fitted on " + std::to_string(model.members) + " members of " +
                                                       std::to_string(model.classes) + " classes");
  const std::size_t n = members[0].size();
  if (n == 0) return ProbabilityTable{};
  const std::vector<std::vector<float>> flat = flat_members(members);
  std::vector<const float*> ptrs;
  for (const std::vector<float>& f : flat) ptrs.push_back(f.data());
  EnsembleInfo e;
  e.method = CombineMethod::kStacking;
  e.members.resize(members.size());
  e.stacking.weights = model.weights;
  e.stacking.intercepts = model.intercepts;
  e.stacking.clamp = kClamp;
  Result<std::vector<float>> out = combine_members(ptrs, static_cast<int>(n), model.classes,
                                                   model.binary ? HeadKind::kBinary : HeadKind::kMulticlass, e);
  if (!out) return out.error();
  return table_of(out.value(), n, static_cast<std::size_t>(model.classes));
}

double stacking_objective(const StackingModel& model, const std::vector<ProbabilityTable>& members, const std::vector<int>& labels) {
  return objective(model, stacking_features(members, model.binary), labels);
}

// ---- referral by score

namespace {
struct Ranked {
  std::vector<double> score;              // ascending
  std::vector<long long> correct_prefix;  // correct among the k lowest scores
};
Ranked rank(const std::vector<double>& scores, const std::vector<int>& correct) {
  std::vector<std::size_t> order(scores.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return scores[a] < scores[b]; });
  Ranked r;
  r.correct_prefix.assign(scores.size() + 1, 0);
  for (std::size_t k = 0; k < order.size(); ++k) {
    r.score.push_back(scores[order[k]]);
    r.correct_prefix[k + 1] = r.correct_prefix[k] + (correct[order[k]] ? 1 : 0);
  }
  return r;
}
}  // namespace

Result<ReferralCutoff> choose_referral_cutoff(const std::vector<double>& scores, const std::vector<int>& correct,
                                              double target_accuracy, double max_rate) {
  if (scores.empty() || scores.size() != correct.size())
    return make_error(ErrorCode::kInvalidArgument, "choosing a referral cutoff needs one decision per score, and at least one");
  const Ranked r = rank(scores, correct);
  const std::size_t n = scores.size();
  ReferralCutoff best;
  bool have = false;
  for (std::size_t kept = n + 1; kept-- > 0;) {
    if (kept < n && kept > 0 && r.score[kept - 1] == r.score[kept]) continue;  // a cutoff cannot split a tie
    ReferralCutoff c;
    c.cutoff = kept == n ? std::nextafter(r.score[n - 1], HUGE_VAL) : r.score[kept];
    c.referred_share = static_cast<double>(n - kept) / static_cast<double>(n);
    if (c.referred_share > max_rate + 1e-12) break;
    c.kept_accuracy = kept > 0 ? static_cast<double>(r.correct_prefix[kept]) / static_cast<double>(kept) : 1.0;
    c.reached = c.kept_accuracy >= target_accuracy;
    if (!have || c.kept_accuracy > best.kept_accuracy) {
      best = c;
      have = true;
    }
    if (c.reached) return c;
  }
  return best;
}

ReferralCutoff apply_referral_cutoff(const std::vector<double>& scores, const std::vector<int>& correct, double cutoff) {
  ReferralCutoff c;
  c.cutoff = cutoff;
  long long referred = 0, kept = 0, right = 0;
  for (std::size_t i = 0; i < scores.size(); ++i) {
    if (scores[i] >= cutoff) {
      ++referred;
      continue;
    }
    ++kept;
    right += correct[i] ? 1 : 0;
  }
  c.referred_share = scores.empty() ? 0.0 : static_cast<double>(referred) / static_cast<double>(scores.size());
  c.kept_accuracy = kept > 0 ? static_cast<double>(right) / static_cast<double>(kept) : 1.0;
  return c;
}

std::vector<std::pair<double, double>> referral_curve_by_score(const std::vector<double>& scores, const std::vector<int>& correct,
                                                                double max_rate, double step) {
  const Ranked r = rank(scores, correct);
  const std::size_t n = scores.size();
  std::vector<std::pair<double, double>> out;
  for (int i = 0; n > 0 && i * step <= max_rate + 1e-12; ++i) {
    const double rate = i * step;
    const auto kept = static_cast<std::size_t>(std::llround(static_cast<double>(n) * (1.0 - rate)));
    out.emplace_back(rate, kept > 0 ? static_cast<double>(r.correct_prefix[kept]) / static_cast<double>(kept) : 1.0);
  }
  return out;
}

}  // namespace cellcam::train
