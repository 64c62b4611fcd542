// checkpoint.h — a network's weights on disk: the trainer's checkpoints (weights, optimizer state and the
// weight average, with the trainer's state beside them), bare weights (`cellcam export`'s weights.pt), and
// transfer learning from another model's checkpoint. Every file is written atomically and read onto the
// CPU first, so a checkpoint written on a GPU loads on a CPU-only machine.
// Includes LibTorch: only for translation units that already need it.
#pragma once

#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cellcam/error.h"
#include "network.h"

namespace cellcam::train {

// A checkpoint is one archive (model parameters and buffers + optimizer state, and the weight average when
// training keeps one), written atomically, with the trainer's state beside it as PATH.json.
Result<bool> save_checkpoint(const std::string& path, native::Network& net, torch::optim::Optimizer& opt,
                             const nlohmann::json& state, const std::vector<torch::Tensor>* averaged = nullptr);
// averaged: filled from the archive when it holds a weight average (left empty otherwise).
Result<nlohmann::json> load_checkpoint(const std::string& path, native::Network& net, torch::optim::Optimizer* opt,
                                       std::vector<torch::Tensor>* averaged = nullptr);
// The same from the bytes of PATH and PATH.json (a distributed run's rank 0 reads them and sends them to the
// other ranks); `path` names the checkpoint in errors.
Result<nlohmann::json> load_checkpoint_bytes(const std::string& bytes, const std::string& state_text, const std::string& path,
                                             native::Network& net, torch::optim::Optimizer* opt,
                                             std::vector<torch::Tensor>* averaged = nullptr);

// Transfer learning: copies every parameter and buffer of the checkpoint whose name and shape match
// one of `net`'s (a different head or input is fine). Returns how many tensors were copied, of how many.
struct InitReport {
  int copied = 0;
  int total = 0;
};
Result<InitReport> init_matching_weights(const std::string& path, native::Network& net);

// The network's parameters and buffers alone (no optimizer state), written atomically; and read back.
Result<bool> save_weights(const std::string& path, native::Network& net);
// What save_weights writes, as bytes (export hashes them into model.json).
Result<std::string> serialize_weights(native::Network& net);
Result<bool> load_weights(const std::string& path, native::Network& net);

}  // namespace cellcam::train
