// predictions.h — a network applied to labelled images: batches to tensors, per-sample losses and class
// probabilities for either head, and predict_store, the one pass over an image store that the trainer's
// validation and test, eval, calibrate and ensemble all make (so their numbers agree).
// Includes LibTorch: only for translation units that already need it.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "image_store.h"
#include "network.h"
#include "plot.h"

namespace cellcam::train {

torch::Tensor batch_images(const Batch& b, const torch::Device& device);                      // (N,C,H,W)
torch::Tensor sample_losses(const torch::Tensor& logits, const torch::Tensor& labels, bool binary);  // (N)
torch::Tensor probabilities(const torch::Tensor& logits, bool binary, double temperature = 1.0);     // (N,C)

struct Predictions {
  std::vector<std::vector<float>> probs;  // (N, C), at the temperature asked for
  std::vector<std::vector<float>> logits; // (N, 1) binary or (N, C): the raw scores, one view (no TTA)
  std::vector<int> labels;
  std::vector<int> samples;
  double loss = 0.0;  // mean unweighted loss
  // With TTA: per image, how much the views disagree (the mean total-variation distance of each view's
  // probabilities from their mean, as ensemble.h's disagreement()); empty without TTA.
  std::vector<double> view_disagreement;
};
Predictions predict_store(native::Network& net, const ImageStore& store, const std::vector<int>& samples, int batch_size,
                          const torch::Device& device, bool tta = false, double temperature = 1.0);

// One-vs-rest ROC curves of `p` (binary: the positive class only), labelled "<prefix> (AUC x)".
std::vector<report::Series> roc_series(const Predictions& p, const std::vector<std::string>& classes, const std::string& prefix);

}  // namespace cellcam::train
