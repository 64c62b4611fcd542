// test_sync_batch_norm.cpp — synchronised batch norm (native/model/sync_batch_norm.h) against LibTorch's
// own batch norm: unsynchronised it must be torch::nn::BatchNorm2d (same names, same numbers), one rank
// must equal it up to rounding, and two ranks (two
// threads whose sums meet in the middle, as two processes' all-reduce would) holding the two halves of a
// batch must give the outputs, input gradients, parameter gradients and running statistics of one
// BatchNorm2d over the whole batch. Prints maxdiff for each.
#include <gtest/gtest.h>

#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>

#include "sync_batch_norm.h"

namespace {

using cellcam::native::RankSum;
using cellcam::native::SyncBatchNorm;
using cellcam::native::SyncBatchNormImpl;

double maxdiff(const torch::Tensor& a, const torch::Tensor& b) { return (a - b).abs().max().item<double>(); }

// Two threads add their tensors: each call blocks until the other thread's matching call arrives.
class TwoRankSum {
 public:
  RankSum of(int rank) {
    return [this, rank](torch::Tensor& t) {
      std::unique_lock<std::mutex> lock(mutex_);
      const long round = round_;
      parts_[rank] = t.clone();
      if (++arrived_ == 2) {
        result_ = parts_[0] + parts_[1];
        arrived_ = 0;
        ++round_;
        done_.notify_all();
      } else {
        done_.wait(lock, [&] { return round_ != round; });
      }
      t.copy_(result_);
    };
  }

 private:
  std::mutex mutex_;
  std::condition_variable done_;
  torch::Tensor parts_[2], result_;
  int arrived_ = 0;
  long round_ = 0;
};

struct Outcome {
  torch::Tensor y, dx, dweight, dbias, running_mean, running_var;
};

// A BatchNorm2d with non-trivial affine parameters, run forward and backward on x with a fixed upstream
// gradient (so the backward pass's cross-sample terms matter).
template <typename BN>
Outcome run_bn(BN& bn, torch::Tensor x, const torch::Tensor& upstream) {
  x = x.clone().requires_grad_(true);
  const torch::Tensor y = bn.forward(x);
  (y * upstream).sum().backward();
  return {y.detach(), x.grad(), bn.weight.grad().clone(), bn.bias.grad().clone(), bn.running_mean.clone(), bn.running_var.clone()};
}

template <typename BN>
void init(BN& bn) {
  torch::NoGradGuard no_grad;
  bn.weight.copy_(torch::linspace(0.5, 1.5, bn.weight.size(0)));
  bn.bias.copy_(torch::linspace(-0.2, 0.3, bn.bias.size(0)));
}

TEST(SyncBatchNorm, OneRankIsLibTorchBatchNorm) {
  torch::manual_seed(1);
  const torch::Tensor x = torch::randn({6, 4, 5, 5}) * 3 + 2;  // (N,C,H,W), a mean away from 0
  const torch::Tensor upstream = torch::randn({6, 4, 5, 5});
  torch::nn::BatchNorm2d reference(4);
  SyncBatchNorm synced(4);
  init(*reference);
  init(*synced);
  synced->set_rank_sum([](torch::Tensor&) {});  // a world of one
  const Outcome a = run_bn(*reference, x, upstream), b = run_bn(*synced, x, upstream);
  std::printf("one rank: maxdiff y %.2e dx %.2e dweight %.2e dbias %.2e running_var %.2e\n", maxdiff(a.y, b.y),
              maxdiff(a.dx, b.dx), maxdiff(a.dweight, b.dweight), maxdiff(a.dbias, b.dbias),
              maxdiff(a.running_var, b.running_var));
  EXPECT_LT(maxdiff(a.y, b.y), 1e-5);
  EXPECT_LT(maxdiff(a.dx, b.dx), 1e-5);
  EXPECT_LT(maxdiff(a.dweight, b.dweight), 1e-4);
  EXPECT_LT(maxdiff(a.dbias, b.dbias), 1e-4);
  EXPECT_LT(maxdiff(a.running_mean, b.running_mean), 1e-6);
  EXPECT_LT(maxdiff(a.running_var, b.running_var), 1e-5);
  EXPECT_EQ(synced->num_batches_tracked.item<long>(), 1);
}

TEST(SyncBatchNorm, TwoRanksWithHalfTheBatchEachAreOneBatchNormOverTheWholeBatch) {
  torch::manual_seed(2);
  const torch::Tensor x = torch::randn({8, 3, 4, 4}) * 2 - 1;
  const torch::Tensor upstream = torch::randn({8, 3, 4, 4});
  torch::nn::BatchNorm2d whole(3);
  init(*whole);
  const Outcome reference = run_bn(*whole, x, upstream);

  TwoRankSum exchange;
  Outcome halves[2];
  SyncBatchNorm ranks[2] = {SyncBatchNorm(3), SyncBatchNorm(3)};
  std::thread threads[2];
  for (int r = 0; r < 2; ++r) {
    init(*ranks[r]);
    ranks[r]->set_rank_sum(exchange.of(r));
    threads[r] = std::thread([&, r] { halves[r] = run_bn(*ranks[r], x.narrow(0, 4 * r, 4), upstream.narrow(0, 4 * r, 4)); });
  }
  for (std::thread& t : threads) t.join();
  const torch::Tensor y = torch::cat({halves[0].y, halves[1].y}), dx = torch::cat({halves[0].dx, halves[1].dx});
  // Each rank's parameter gradient is its own half's; the trainer's all-reduce adds them (then averages
  // over ranks, as its loss is scaled by the world size).
  const torch::Tensor dweight = halves[0].dweight + halves[1].dweight, dbias = halves[0].dbias + halves[1].dbias;
  std::printf("two ranks: maxdiff y %.2e dx %.2e dweight %.2e dbias %.2e running_mean %.2e running_var %.2e\n",
              maxdiff(reference.y, y), maxdiff(reference.dx, dx), maxdiff(reference.dweight, dweight),
              maxdiff(reference.dbias, dbias), maxdiff(reference.running_mean, halves[1].running_mean),
              maxdiff(reference.running_var, halves[0].running_var));
  EXPECT_LT(maxdiff(reference.y, y), 1e-5);
  EXPECT_LT(maxdiff(reference.dx, dx), 1e-5);
  EXPECT_LT(maxdiff(reference.dweight, dweight), 1e-4);
  EXPECT_LT(maxdiff(reference.dbias, dbias), 1e-4);
  for (const Outcome& h : halves) {
    EXPECT_LT(maxdiff(reference.running_mean, h.running_mean), 1e-6);
    EXPECT_LT(maxdiff(reference.running_var, h.running_var), 1e-5);
  }

  // Without the exchange each half is normalised by its own statistics: a different answer.
  SyncBatchNorm alone(3);
  init(*alone);
  const Outcome own = run_bn(*alone, x.narrow(0, 0, 4), upstream.narrow(0, 0, 4));
  EXPECT_GT(maxdiff(reference.y.narrow(0, 0, 4), own.y), 1e-2);
}

TEST(SyncBatchNorm, UnsynchronisedItIsBatchNorm2dWithTheSameNames) {
  torch::manual_seed(3);
  torch::nn::BatchNorm2d reference(4);
  SyncBatchNorm plain(4);
  init(*reference);
  init(*plain);
  std::vector<std::string> a, b;
  for (const auto& item : reference->named_parameters()) a.push_back(item.key());
  for (const auto& item : reference->named_buffers()) a.push_back(item.key());
  for (const auto& item : plain->named_parameters()) b.push_back(item.key());
  for (const auto& item : plain->named_buffers()) b.push_back(item.key());
  EXPECT_EQ(a, b);
  const torch::Tensor x = torch::randn({5, 4, 3, 3}), upstream = torch::randn({5, 4, 3, 3});
  const Outcome r = run_bn(*reference, x, upstream), p = run_bn(*plain, x, upstream);
  EXPECT_EQ(maxdiff(r.y, p.y), 0.0);
  EXPECT_EQ(maxdiff(r.dx, p.dx), 0.0);
  EXPECT_EQ(maxdiff(r.running_var, p.running_var), 0.0);
  EXPECT_EQ(plain->num_batches_tracked.item<long>(), 1);
}

TEST(SyncBatchNorm, EvaluationUsesTheRunningStatisticsWithoutCallingTheRanks) {
  SyncBatchNorm bn(2);
  bool called = false;
  bn->set_rank_sum([&](torch::Tensor&) { called = true; });
  bn->eval();
  torch::nn::BatchNorm2d reference(2);
  reference->eval();
  const torch::Tensor x = torch::randn({3, 2, 4, 4});
  EXPECT_LT(maxdiff(bn->forward(x), reference->forward(x)), 1e-6);
  EXPECT_FALSE(called);
}

}  // namespace
