// weight_average.h — an exponential moving average of a network's weights (Polyak averaging, `--ema`).
//
// After each optimiser step: avg = d * avg + (1 - d) * w for every floating parameter and buffer (batch-norm
// running statistics included), with d = min(decay, (1 + step) / (10 + step)) so the first steps are not
// dominated by the random initial weights. Integer buffers (num_batches_tracked) are copied. The average
// is what the trainer validates, keeps as best.pt and so what eval/export use; the raw weights keep
// training. swap() exchanges the two in place, so a second swap() restores them.
#pragma once

#include <vector>

#include <torch/torch.h>

#include "network.h"

namespace cellcam::train {

class WeightAverage {
 public:
  WeightAverage(native::Network& net, double decay);

  void update(native::Network& net);  // after opt.step()
  void swap(native::Network& net);    // net's weights <-> the average

  // For checkpoints: the averaged tensors in the network's parameter-then-buffer order, and the step count.
  const std::vector<torch::Tensor>& tensors() const { return average_; }
  long steps() const { return steps_; }
  // Restores what tensors()/steps() returned; false if the shapes do not match this network's.
  bool restore(const std::vector<torch::Tensor>& tensors, long steps);

 private:
  static std::vector<torch::Tensor> live(native::Network& net);

  double decay_;
  long steps_ = 0;
  std::vector<torch::Tensor> average_;
};

}  // namespace cellcam::train
