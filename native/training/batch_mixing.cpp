// batch_mixing.cpp — mixup, cutmix and label smoothing (see batch_mixing.h): the plan's draws in plain C++,
// the tensor work in LibTorch.
#include "batch_mixing.h"

#include <algorithm>
#include <cmath>
#include <random>

namespace cellcam::train {
namespace {

constexpr double kPi = 3.14159265358979323846;

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// mt19937_64's sequence is fixed by the standard; std::uniform_real_distribution's mapping is not.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : engine_(splitmix64(seed)) {}
  double uniform() { return static_cast<double>(engine_() >> 11) * (1.0 / 9007199254740992.0); }  // [0, 1)
  std::uint64_t bits() { return engine_(); }
  double normal() {  // Box–Muller; 1 - u lies in (0, 1], so the log is finite
    const double u1 = 1.0 - uniform(), u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * kPi * u2);
  }
  int below(int n) { return std::min(n - 1, static_cast<int>(uniform() * n)); }  // uniform in [0, n)

 private:
  std::mt19937_64 engine_;
};

// Gamma(a, 1), Marsaglia and Tsang (2000); for a < 1, Gamma(a + 1) * U^(1/a).
double gamma_sample(double a, Rng& rng) {
  if (a < 1.0) {
    const double u = 1.0 - rng.uniform();
    return gamma_sample(a + 1.0, rng) * std::pow(u, 1.0 / a);
  }
  const double d = a - 1.0 / 3.0, c = 1.0 / std::sqrt(9.0 * d);
  for (;;) {
    const double x = rng.normal();
    const double v0 = 1.0 + c * x;
    if (v0 <= 0.0) continue;
    const double v = v0 * v0 * v0;
    const double u = 1.0 - rng.uniform();
    if (std::log(u) < 0.5 * x * x + d - d * v + d * std::log(v)) return d * v;
  }
}

torch::Tensor partner_index(const MixPlan& plan, const torch::Device& device) {
  return torch::tensor(plan.permutation, torch::kLong).to(device);  // (N)
}

// timm's rand_bbox: a box of sides sqrt(1 - lambda) times the image's, centred on a uniform pixel and
// clipped to the image; lambda then becomes the share the box leaves uncovered.
void place_box(MixPlan& plan, int height, int width, double centre_y, double centre_x) {
  const double side = std::sqrt(1.0 - plan.lambda);
  const int cut_h = static_cast<int>(height * side), cut_w = static_cast<int>(width * side);
  const int cy = std::min(height - 1, static_cast<int>(centre_y * height));
  const int cx = std::min(width - 1, static_cast<int>(centre_x * width));
  plan.y0 = std::clamp(cy - cut_h / 2, 0, height);
  plan.y1 = std::clamp(cy + cut_h / 2, 0, height);
  plan.x0 = std::clamp(cx - cut_w / 2, 0, width);
  plan.x1 = std::clamp(cx + cut_w / 2, 0, width);
  const double covered = static_cast<double>(plan.y1 - plan.y0) * (plan.x1 - plan.x0);
  plan.lambda = 1.0 - covered / (static_cast<double>(height) * width);
}

}  // namespace

double beta_sample(double alpha, std::uint64_t seed) {
  Rng rng(seed);
  const double a = gamma_sample(alpha, rng), b = gamma_sample(alpha, rng);
  return a + b > 0.0 ? a / (a + b) : 0.5;  // both underflow only for tiny alpha
}

MixPlan draw_mix_plan(const MixSettings& m, int batch, int height, int width, std::uint64_t seed) {
  Rng rng(seed);
  // One statement per draw: the order of draws is the contract.
  const double apply = rng.uniform();
  const double pick = rng.uniform();
  const std::uint64_t beta_seed = rng.bits();
  const double centre_y = rng.uniform();
  const double centre_x = rng.uniform();
  std::vector<std::int64_t> permutation(static_cast<std::size_t>(std::max(batch, 0)));
  for (std::size_t i = 0; i < permutation.size(); ++i) permutation[i] = static_cast<std::int64_t>(i);
  for (int i = batch - 1; i > 0; --i) std::swap(permutation[i], permutation[rng.below(i + 1)]);

  MixPlan plan;
  if (!m.on() || batch < 1 || height < 1 || width < 1 || !(apply < m.probability)) return plan;
  const bool both = m.mixup_alpha > 0.0 && m.cutmix_alpha > 0.0;
  const bool cutmix = both ? pick < 0.5 : m.cutmix_alpha > 0.0;
  plan.mode = cutmix ? MixPlan::Mode::kCutmix : MixPlan::Mode::kMixup;
  plan.lambda = beta_sample(cutmix ? m.cutmix_alpha : m.mixup_alpha, beta_seed);
  plan.permutation = std::move(permutation);
  if (cutmix) place_box(plan, height, width, centre_y, centre_x);
  return plan;
}

torch::Tensor mix_images(const torch::Tensor& x, const MixPlan& plan) {  // (N,C,H,W)
  if (plan.mode == MixPlan::Mode::kNone) return x;
  const torch::Tensor partner = x.index_select(0, partner_index(plan, x.device()));
  if (plan.mode == MixPlan::Mode::kMixup) return x * plan.lambda + partner * (1.0 - plan.lambda);
  torch::Tensor out = x.clone();
  out.slice(2, plan.y0, plan.y1).slice(3, plan.x0, plan.x1).copy_(partner.slice(2, plan.y0, plan.y1).slice(3, plan.x0, plan.x1));
  return out;
}

torch::Tensor soft_targets(const torch::Tensor& labels, const MixPlan& plan, int classes, bool binary, double smoothing) {
  torch::Tensor t = binary ? labels.to(torch::kFloat) : torch::one_hot(labels, classes).to(torch::kFloat);  // (N) / (N,K)
  if (plan.mode != MixPlan::Mode::kNone)
    t = t * plan.lambda + t.index_select(0, partner_index(plan, labels.device())) * (1.0 - plan.lambda);
  if (smoothing > 0.0) t = t * (1.0 - smoothing) + smoothing / (binary ? 2.0 : static_cast<double>(classes));
  return t;
}

torch::Tensor soft_target_losses(const torch::Tensor& logits, const torch::Tensor& targets, bool binary) {
  if (binary)
    return torch::binary_cross_entropy_with_logits(logits.squeeze(1), targets, {}, {}, torch::Reduction::None);
  return -(targets * torch::log_softmax(logits, 1)).sum(1);
}

torch::Tensor mixed_sample_weights(const torch::Tensor& class_weight, const torch::Tensor& labels, const MixPlan& plan) {
  const torch::Tensor w = class_weight.index_select(0, labels);  // (N)
  if (plan.mode == MixPlan::Mode::kNone) return w;
  return w * plan.lambda + w.index_select(0, partner_index(plan, labels.device())) * (1.0 - plan.lambda);
}

}  // namespace cellcam::train
