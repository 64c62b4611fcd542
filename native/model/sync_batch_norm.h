// sync_batch_norm.h — batch norm whose batch statistics span every rank of a distributed training
// (`cellcam train --sync-bn`): each rank's sums of x and x^2 are added over the ranks before the mean and
// variance are taken, and in the backward pass the sums of dy and dy*x_hat are added the same way, so N
// ranks of batch B normalise and differentiate exactly as one process of batch N*B would.
//
// The module has torch::nn::BatchNorm{1,2}d's parameters and buffers under their names, so checkpoints,
// the exporter and Grad-CAM see an ordinary batch norm, and until set_rank_sum() is given a function it
// computes what they compute (one process, evaluation, or a run without --sync-bn). It is not a subclass
// of them: Debian's libtorch does not export BatchNormImplBase's pretty_print, which a subclass's vtable
// needs.
// Includes LibTorch: only for translation units that already need it.
#pragma once

#include <torch/torch.h>

#include <functional>

namespace cellcam::native {

// Adds a tensor over the ranks, in place; throws std::runtime_error naming the failure (a dead rank).
using RankSum = std::function<void(torch::Tensor&)>;

// Training-mode batch norm over every dimension but 1, with statistics summed by `sum`; updates the
// running statistics in place as torch::nn::BatchNorm does (unbiased variance, `momentum`).
torch::Tensor sync_batch_norm(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                              torch::Tensor& running_mean, torch::Tensor& running_var, double momentum,
                              double eps, const RankSum& sum);

// Batch norm over dimension 1 of (N,C,H,W) or (N,F), with torch::nn::BatchNorm's defaults (eps 1e-5,
// momentum 0.1, affine, running statistics) and its parameter and buffer names, registered in its order.
class SyncBatchNormImpl : public torch::nn::Cloneable<SyncBatchNormImpl> {
 public:
  explicit SyncBatchNormImpl(int64_t channels);
  void reset() override;
  void pretty_print(std::ostream& stream) const override;
  void set_rank_sum(RankSum sum) { sum_ = std::move(sum); }
  torch::Tensor forward(const torch::Tensor& x);  // (N,C,...) -> (N,C,...)

  torch::Tensor weight, bias, running_mean, running_var, num_batches_tracked;

 private:
  int64_t channels_;
  double momentum_ = 0.1, eps_ = 1e-5;
  RankSum sum_;
};
TORCH_MODULE(SyncBatchNorm);

}  // namespace cellcam::native
