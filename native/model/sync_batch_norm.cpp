// sync_batch_norm.cpp — see sync_batch_norm.h. The statistics are summed in double: sum(x^2)/n - mean^2
// loses digits in float32 when the mean is large against the spread.
#include "sync_batch_norm.h"

#include <vector>

namespace cellcam::native {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

std::vector<int64_t> reduced_dims(const torch::Tensor& x) {
  std::vector<int64_t> dims{0};
  for (int64_t d = 2; d < x.dim(); ++d) dims.push_back(d);
  return dims;
}

// (C) -> (1,C,1,...): broadcastable against x.
torch::Tensor per_channel(const torch::Tensor& v, const torch::Tensor& x) {
  std::vector<int64_t> shape(x.dim(), 1);
  shape[1] = v.size(0);
  return v.view(shape);
}

struct SyncBatchNormFunction : public torch::autograd::Function<SyncBatchNormFunction> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& weight,
                               const torch::Tensor& bias, torch::Tensor running_mean, torch::Tensor running_var,
                               double momentum, double eps, const RankSum* sum) {
    const std::vector<int64_t> dims = reduced_dims(x);
    const int64_t channels = x.size(1);
    const torch::Tensor xd = x.to(torch::kDouble);
    torch::Tensor stats = torch::cat({xd.sum(dims), (xd * xd).sum(dims),
                                      torch::full({1}, static_cast<double>(x.numel() / channels), xd.options())});  // (2C+1)
    (*sum)(stats);
    const torch::Tensor count = stats[2 * channels];
    const torch::Tensor mean = stats.narrow(0, 0, channels) / count;                                          // (C)
    const torch::Tensor var = (stats.narrow(0, channels, channels) / count - mean * mean).clamp_min(0.0);   // (C), biased
    {
      torch::NoGradGuard no_grad;
      running_mean.mul_(1 - momentum).add_(momentum * mean.to(running_mean.dtype()));
      running_var.mul_(1 - momentum).add_(momentum * (var * count / (count - 1).clamp_min(1.0)).to(running_var.dtype()));
    }
    const torch::Tensor invstd = (var + eps).rsqrt().to(x.scalar_type());
    const torch::Tensor mean_x = mean.to(x.scalar_type());
    ctx->save_for_backward({x, weight, mean_x, invstd});
    ctx->saved_data["count"] = count.item<double>();
    ctx->saved_data["sum"] = reinterpret_cast<int64_t>(sum);
    const torch::Tensor x_hat = (x - per_channel(mean_x, x)) * per_channel(invstd, x);
    return x_hat * per_channel(weight, x) + per_channel(bias, x);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_output) {
    const variable_list saved = ctx->get_saved_variables();
    const torch::Tensor &x = saved[0], &weight = saved[1], &mean = saved[2], &invstd = saved[3];
    const auto* sum = reinterpret_cast<const RankSum*>(ctx->saved_data["sum"].toInt());
    const double count = ctx->saved_data["count"].toDouble();
    const torch::Tensor dy = grad_output[0].contiguous();
    const std::vector<int64_t> dims = reduced_dims(x);
    const torch::Tensor x_hat = (x - per_channel(mean, x)) * per_channel(invstd, x);
    const torch::Tensor sum_dy = dy.to(torch::kDouble).sum(dims);                    // (C), this rank's
    const torch::Tensor sum_dy_xhat = (dy * x_hat).to(torch::kDouble).sum(dims);     // (C), this rank's
    // The parameters' gradients stay this rank's own: the trainer averages them like every other one.
    torch::Tensor global = torch::cat({sum_dy, sum_dy_xhat});
    (*sum)(global);
    const int64_t channels = x.size(1);
    const torch::Tensor mean_dy = (global.narrow(0, 0, channels) / count).to(x.scalar_type());
    const torch::Tensor mean_dy_xhat = (global.narrow(0, channels, channels) / count).to(x.scalar_type());
    const torch::Tensor dx = per_channel(weight * invstd, x) *
                             (dy - per_channel(mean_dy, x) - x_hat * per_channel(mean_dy_xhat, x));
    return {dx, sum_dy_xhat.to(weight.scalar_type()), sum_dy.to(weight.scalar_type()),
            torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor sync_batch_norm(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                              torch::Tensor& running_mean, torch::Tensor& running_var, double momentum,
                              double eps, const RankSum& sum) {
  return SyncBatchNormFunction::apply(x, weight, bias, running_mean, running_var, momentum, eps, &sum);
}

SyncBatchNormImpl::SyncBatchNormImpl(int64_t channels) : channels_(channels) { reset(); }

void SyncBatchNormImpl::reset() {
  weight = register_parameter("weight", torch::ones({channels_}));
  bias = register_parameter("bias", torch::zeros({channels_}));
  running_mean = register_buffer("running_mean", torch::zeros({channels_}));
  running_var = register_buffer("running_var", torch::ones({channels_}));
  num_batches_tracked = register_buffer("num_batches_tracked", torch::tensor(0, torch::kLong));
}

void SyncBatchNormImpl::pretty_print(std::ostream& stream) const {
  stream << "cellcam::SyncBatchNorm(" << channels_ << ", eps=" << eps_ << ", momentum=" << momentum_
         << (sum_ ? ", synchronised)" : ")");
}

torch::Tensor SyncBatchNormImpl::forward(const torch::Tensor& x) {
  if (is_training()) num_batches_tracked.add_(1);
  if (!sum_ || !is_training())
    return torch::batch_norm(x, weight, bias, running_mean, running_var, is_training(), momentum_, eps_,
                             /*cudnn_enabled=*/true);
  return sync_batch_norm(x, weight, bias, running_mean, running_var, momentum_, eps_, sum_);
}

}  // namespace cellcam::native
