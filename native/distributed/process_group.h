// process_group.h — the ranks of one distributed training, on LibTorch's c10d: a TCPStore for the
// rendezvous (hosted by rank 0), ProcessGroupGloo for everything on the CPU and, where LibTorch has CUDA
// and the model is on a GPU, ProcessGroupNCCL for gradients and weights.
//
// Every collective is called by every rank in the same order and returns a Result: a peer that died or
// hangs past the timeout becomes an error that names it (each rank beats a heartbeat into the store; the
// rank whose heartbeat stopped is the one named). A world of one needs no network and every collective is
// the identity, so the trainer has one code path.
// Includes LibTorch: only for translation units that already need it.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "cellcam/error.h"
#include "launch.h"

namespace c10d {
class Store;
}

namespace cellcam::dist {

class Group {
 public:
  // Joins the rendezvous (rank 0 hosts it) and checks that every rank agrees on the world size and
  // that no rank number came twice. `cuda`: the model runs on a CUDA device (NCCL for auto).
  static Result<std::unique_ptr<Group>> join(const DistOptions& options, bool cuda);
  static std::unique_ptr<Group> solo();  // a world of one
  ~Group();
  Group(const Group&) = delete;
  Group& operator=(const Group&) = delete;

  int rank() const { return rank_; }
  int world() const { return world_; }
  bool distributed() const { return world_ > 1; }
  const std::string& backend() const { return backend_; }  // "none", "gloo" or "nccl"

  // Rank 0's tensors into everyone's, in place (weights, buffers).
  Result<bool> broadcast(const std::vector<torch::Tensor>& tensors, const char* what);
  // Rank 0's bytes into everyone's (settings, the split, a checkpoint).
  Result<bool> broadcast_bytes(std::string& bytes, const char* what);
  // Averages the gradients of `parameters` over the ranks: flattened into buckets of up to 8 MB, one
  // all-reduce each (far fewer messages than one per tensor).
  Result<bool> average_gradients(const std::vector<torch::Tensor>& parameters);
  // Element-wise sums over the ranks, in place (loss sums, counts).
  Result<bool> sum(std::vector<double>& values, const char* what);
  // Element-wise sum of one tensor over the ranks, in place, on the data backend (synchronised batch
  // norm's statistics and their gradients).
  Result<bool> sum_tensor(torch::Tensor& tensor, const char* what);
  // Everyone's bytes, in rank order.
  Result<std::vector<std::string>> all_gather_bytes(const std::string& mine, const char* what);
  // Every rank calls this with its own outcome of a step: true when every rank succeeded; else this rank's
  // own error, or (for the ranks that succeeded) an error naming the ranks that failed. A failure on one
  // rank therefore stops all of them at the same step.
  Result<bool> agree(const Result<bool>& mine, const char* what);
  // Without a time limit: waits until every rank has called it with `key` (for work of very different
  // length on each rank, such as cross-validation folds), still naming a rank that dies meanwhile.
  Result<bool> wait_for_all(const std::string& key);
  // The store as a mailbox (cross-validation folds send their reports to rank 0).
  Result<bool> publish(const std::string& key, const std::string& value);
  Result<std::string> fetch(const std::string& key);

  double communication_seconds() const { return comm_seconds_; }  // spent in collectives so far
  // The last error agree() returned is known to rank 0, which reports it (the others stay quiet).
  bool reported_by_rank0() const { return reported_by_rank0_; }

 private:
  struct Impl;
  Group() = default;
  Error peer_failure(const std::string& what, const std::exception& e);
  Result<bool> leave_together(c10d::Store& client, const std::string& prefix);
  std::unique_ptr<Impl> impl_;
  int rank_ = 0, world_ = 1;
  std::string backend_ = "none";
  double comm_seconds_ = 0.0;
  bool reported_by_rank0_ = false;
};

}  // namespace cellcam::dist
