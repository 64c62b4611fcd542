// distillation.h — `cellcam train --teacher`: knowledge distillation (Hinton et al. 2015) from a trained
// model, run folder or ensemble folder, so one small network can learn an ensemble's (or a larger
// network's) soft decisions and the page gets ensemble quality at single-model cost.
//
//   teacher = Teacher::open(path, student_preprocess, student_classes, device)
//   p       = teacher.probabilities(x, T)                 x (N,C,H,W) the student's batch -> (N,K)
//   loss    = (1 - a) * hard_loss + a * T^2 * distillation_losses(student_logits, p, T, binary)
//
// The teacher sees the very batch the student trains on, augmentation and mixing included ("consistent"
// teaching: Beyer et al. 2022 found it clearly better than fixed soft labels computed once). The batch is
// in the student's preprocessing; the teacher's may differ only in size and normalisation (the batch is
// re-normalised and resampled for it); colour mode, aspect, blur and stain normalisation must agree, or
// the teacher would be judging images it was never trained on.
// Includes LibTorch: for trainer.cpp and tests only.
#pragma once

#include <torch/torch.h>

#include <optional>
#include <string>
#include <vector>

#include "cellcam/error.h"
#include "cellcam/spec.h"
#include "trained_model.h"

namespace cellcam::train {

// true when the teacher's preprocessing can take the student's batch; else why not, naming the key.
// Torch-free rule, tested on its own.
Result<bool> teacher_input_compatible(const PreprocessSpec& student, const PreprocessSpec& teacher);

// The student's batch as the teacher's preprocessing would have made it: normalisation undone and
// redone per channel, then (if the sizes differ) resampled bilinearly with antialiasing.
torch::Tensor to_teacher_input(const torch::Tensor& x, const PreprocessSpec& student, const PreprocessSpec& teacher);  // (N,C,H,W) -> (N,C,h,w)

class Teacher {
 public:
  // path: a run folder, an exported model folder, or an ensemble folder (`cellcam ensemble`: soft voting
  // or stacking). student_classes: the student's classes in its order; the teacher must have the same set.
  static Result<Teacher> open(const std::string& path, const PreprocessSpec& student,
                              const std::vector<std::string>& student_classes, torch::Device device);

  // The teacher's answer as `cellcam predict` and the page give it (each member at its calibration
  // temperature, an ensemble's members combined by the shared combine_members), softened at distillation
  // temperature T: softmax(log p / T), which for one model is softmax(z / (T_calibration * T)). In the
  // student's class order, no gradient. (N,C,H,W) -> (N,K)
  torch::Tensor probabilities(const torch::Tensor& x, double temperature) const;

  // "ensemble models/malaria-ensemble (3 members, stacking)" or "model runs/big": for the log.
  std::string describe() const { return description_; }

 private:
  std::vector<LoadedRun> members_;
  std::optional<ModelCard> ensemble_;     // the ensemble's card (how to combine), or none for one model
  std::vector<std::int64_t> to_student_;  // student class k is the teacher's class to_student_[k]
  PreprocessSpec student_;
  std::string description_;
};

// Per-sample distillation loss T^2 * KL(p || softmax(z / T)) (binary: the Bernoulli KL of P(positive) =
// p[:, 1] against sigmoid(z / T)). T^2 keeps its gradient on the scale of the hard loss's (Hinton et al.).
// student_logits (N,1) binary or (N,K); teacher_probabilities (N,K). -> (N)
torch::Tensor distillation_losses(const torch::Tensor& student_logits, const torch::Tensor& teacher_probabilities,
                                  double temperature, bool binary);

}  // namespace cellcam::train
