// inference.h — what training, evaluation and prediction share on LibTorch: batches to tensors,
// losses and probabilities for either head, predictions over an image store, checkpoints, metrics as JSON.
// Includes LibTorch: only for translation units that already need it.
#pragma once

#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cellcam/error.h"
#include "loader.h"
#include "metrics.h"
#include "network.h"
#include "plot.h"

namespace cellcam::train {

Result<std::string> read_text(const std::string& path);

torch::Tensor batch_images(const Batch& b, const torch::Device& device);                      // (N,C,H,W)
torch::Tensor sample_losses(const torch::Tensor& logits, const torch::Tensor& labels, bool binary);  // (N)
torch::Tensor probabilities(const torch::Tensor& logits, bool binary, double temperature = 1.0);                        // (N,C)
// Test-time augmentation: the mean of the class probabilities over the 8 dihedral transforms of the
// input (flips x 90-degree rotations; the 4 flips only when H != W). x (N,C,H,W) -> (N,classes).
torch::Tensor tta_probabilities(native::Network& net, const torch::Tensor& x, bool binary, double temperature = 1.0);
// The views' own probabilities: (V,N,classes), V = 8 (4 when H != W), in the order tta_probabilities sums.
torch::Tensor tta_view_probabilities(native::Network& net, const torch::Tensor& x, bool binary, double temperature = 1.0);
// The views themselves, one by one (gradcam --tta needs each view's maps): the number of views of x
// (N,C,H,W), view v of x, and a map (N,K,h,w) in view v's frame turned back to the original's.
//   square: v = 4 f + k, flip left-right when f, then k quarter turns; else 0 id, 1 lr, 2 ud, 3 both.
int tta_view_count(const torch::Tensor& x);
torch::Tensor tta_view(const torch::Tensor& x, int v);
torch::Tensor tta_undo_view(const torch::Tensor& map, int v, bool square);
// The mean over the first dimension of (V,...), summed in view order (as the page sums).
torch::Tensor mean_over_views(const torch::Tensor& views);

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

// A checkpoint is one archive (model parameters and buffers + optimizer state, and the weight average when
// training keeps one), written atomically, with the trainer's state beside it as PATH.json.
Result<bool> save_checkpoint(const std::string& path, native::Network& net, torch::optim::Optimizer& opt,
                             const nlohmann::json& state, const std::vector<torch::Tensor>* averaged = nullptr);
// averaged: filled from the archive when it holds a weight average (left empty otherwise).
Result<nlohmann::json> load_checkpoint(const std::string& path, native::Network& net, torch::optim::Optimizer* opt,
                                       std::vector<torch::Tensor>* averaged = nullptr);

// Transfer learning: copies every parameter and buffer of the checkpoint whose name and shape match
// one of `net`'s (a different head or input is fine). Returns how many tensors were copied, of how many.
struct InitReport {
  int copied = 0;
  int total = 0;
};
Result<InitReport> init_matching_weights(const std::string& path, native::Network& net);

// One-vs-rest ROC curves of `p` (binary: the positive class only), labelled "<prefix> (AUC x)".
std::vector<report::Series> roc_series(const Predictions& p, const std::vector<std::string>& classes, const std::string& prefix);

nlohmann::json metrics_json(const Metrics& m, const std::vector<std::string>& classes, double loss);

}  // namespace cellcam::train
