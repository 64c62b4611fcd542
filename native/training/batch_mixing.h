// batch_mixing.h — batch-level regularisers of the training step: mixup (Zhang et al. 2018), cutmix (Yun
// et al. 2019) and label smoothing (Szegedy et al. 2016), with the soft targets and per-sample losses they need.
//
//   plan = draw_mix_plan(settings, N, H, W, seed)      which batches mix, how (lambda, pairing, box)
//   x    = mix_images(x, plan)                         (N,C,H,W)
//   t    = soft_targets(y, plan, classes, binary, e)   (N) binary / (N,K) multiclass
//   loss = soft_target_losses(logits, t, binary)       (N)
//
// Each sample i is mixed with sample permutation[i] of the same batch: mixup blends the whole images,
// lambda * x_i + (1 - lambda) * x_perm(i); cutmix pastes the box of x_perm(i) into x_i and sets lambda to the
// share of x_i that is left (after clipping the box to the image, so lambda is exactly the pixel share). The
// targets mix with the same lambda. One lambda per batch, as timm does.
//
// Deterministic: the plan depends only on (settings, N, H, W, seed) through our own mt19937_64 draws, never on
// LibTorch's global generator, so a resumed run mixes exactly as an uninterrupted one.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace cellcam::train {

struct MixSettings {
  double mixup_alpha = 0.0;   // Beta(alpha, alpha) for mixup's lambda; 0 = off
  double cutmix_alpha = 0.0;  // likewise for cutmix; 0 = off
  double probability = 1.0;   // share of batches that are mixed (the others train as they are)
  bool on() const { return (mixup_alpha > 0.0 || cutmix_alpha > 0.0) && probability > 0.0; }
};

struct MixPlan {
  enum class Mode { kNone, kMixup, kCutmix };
  Mode mode = Mode::kNone;
  double lambda = 1.0;                // weight of each sample's own image and label
  std::vector<std::int64_t> permutation;  // (N): the partner of each sample; empty when mode is kNone
  int y0 = 0, y1 = 0, x0 = 0, x1 = 0;  // cutmix: the pasted rows [y0, y1) and columns [x0, x1)
};

// With both alphas on, a mixed batch is mixup or cutmix with even odds (timm's switch_prob 0.5).
// Every number is drawn whether used or not, in a fixed order.
MixPlan draw_mix_plan(const MixSettings& settings, int batch, int height, int width, std::uint64_t seed);

// A sample of Beta(alpha, alpha), alpha > 0, from two Gamma draws (Marsaglia and Tsang), exposed for tests.
double beta_sample(double alpha, std::uint64_t seed);

torch::Tensor mix_images(const torch::Tensor& images, const MixPlan& plan);  // (N,C,H,W) -> (N,C,H,W)

// Targets of the hard labels y (N, long) after mixing and label smoothing e in [0, 0.5]: binary, P(positive)
// per sample, y*(1-e) + e/2, shape (N); multiclass, the one-hot rows times (1-e) plus e/K, shape (N,K), rows summing to 1.
torch::Tensor soft_targets(const torch::Tensor& labels, const MixPlan& plan, int classes, bool binary, double smoothing);

// Per-sample losses against soft targets: binary cross-entropy with logits (logits (N,1), targets (N)), or
// -sum_k t_k log softmax(z)_k (logits and targets (N,K)). Equal to sample_losses() for hard 0/1 targets.
torch::Tensor soft_target_losses(const torch::Tensor& logits, const torch::Tensor& targets, bool binary);  // (N)

// Per-sample loss weights for class weights `class_weight` (K): lambda * w[y_i] + (1 - lambda) * w[y_perm(i)].
torch::Tensor mixed_sample_weights(const torch::Tensor& class_weight, const torch::Tensor& labels, const MixPlan& plan);  // (N)

}  // namespace cellcam::train
