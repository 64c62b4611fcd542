// trainer.h — `cellcam train`: its settings, and the function behind it.
//
// A run folder holds everything needed to understand and continue a run:
//   config.json      the resolved settings and model spec        split.csv     which file is in which part
//   config.toml      the settings as a recipe for --config       (train_config.h)
//   metrics.csv      one row per epoch                           skipped.csv   unreadable/mislabelled files
//   checkpoints/     last.pt, best.pt (+ .json: epoch, state)    report.json / report.md, *.png plots
// Constraint: LibTorch stays inside trainer.cpp (this header is torch-free). The settings as JSON are in
// train_settings.cpp, the epoch rows and report.md in run_report.h.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cellcam/error.h"
#include "launch.h"

namespace cellcam::dist {
class Group;
}

namespace cellcam::train {

struct TrainSettings {
  std::string data;                 // folder (ImageFolder / Kaggle) or manifest CSV
  std::string out = "runs/run";     // run folder
  std::string resume;               // a run folder to continue (everything else comes from its config.json)
  std::string spec;                 // model.json to start from (optional; else preset + input options)
  std::string preset = "malaria_bn_se";
  int width = 32;                   // resnet18 width
  int image_size = 64;
  std::string color = "rgb";        // rgb | gray | hsv
  std::string aspect = "pad";       // stretch | pad | crop
  std::string augment = "cells";    // see augment.h: a preset or a list
  bool stain_norm = false;          // per-image stain normalisation in the spec, targets = training images' mean stain
  std::string stain_method = "rgb"; // with stain_norm: rgb | reinhard | macenko (stain_targets.h)
  int epochs = 30;
  int batch_size = 64;
  std::string optimizer = "adam";   // adam | adamw | sgd | rmsprop
  double lr = 1e-3;
  double weight_decay = 0.0;
  double momentum = 0.9;
  std::string schedule = "cosine";  // constant | step | inverse_time | cosine | one_cycle | plateau
  double warmup_epochs = 1.0;
  double drop_noisy = 0.0;          // small-loss trick: leave each batch's largest-loss fraction out of the loss (label noise)
  double label_smoothing = 0.0;     // targets y*(1-e)+e/2 (binary) or one-hot*(1-e)+e/K (multiclass); batch_mixing.h
  double mixup = 0.0;               // mixup's Beta(alpha, alpha); 0: off
  double cutmix = 0.0;              // cutmix's Beta(alpha, alpha); 0: off (both on: one or the other per batch)
  double mix_prob = 1.0;            // share of training batches that mixup/cutmix mix
  std::string teacher;              // --teacher: run, model or soft-voting ensemble folder to distil from (distillation.h)
  double distill_temperature = 2.0; // T: teacher and student probabilities softened as softmax(z / T)
  double distill_weight = 0.5;      // a: loss = (1 - a) * hard loss + a * T^2 * KL(teacher || student)
  bool class_weights = false;       // balanced weights n / (k * n_c) in the loss
  bool weighted_sampler = false;    // draw each epoch with probability proportional to 1 / n_c
  std::string monitor = "val_loss"; // val_loss | val_accuracy | val_auc | val_f1
  int patience = 8;                 // epochs without improvement before stopping (0: never stop)
  double val_fraction = 0.15;
  double test_fraction = 0.15;
  int folds = 0;                    // >= 2: K-fold cross-validation by patient (test_fraction unused)
  int fold = 0;                     // 1..folds: train that fold only; 0: every fold, then cv_report.{json,md}
  double target_sensitivity = 0.0;  // > 0: binary threshold for this sensitivity instead of Youden's J
  double ema = 0.0;                 // > 0: validate, keep and export an exponential moving average of the weights (e.g. 0.999)
  bool tta = false;                 // final validation/test passes: mean over the 8 dihedral transforms
  std::string positive_class;       // binary: the class the model detects (its output is P(positive)); default the second
  std::uint64_t seed = 42;
  int threads = 0;                  // 0: all cores
  int workers = 1;                  // data-loading threads beside LibTorch's
  std::string device = "auto";      // auto | cpu | cuda
  std::string init_from;            // checkpoint to initialise matching weights from (transfer learning)
  // Fine-tuning (`cellcam finetune`, finetune.h): the classes are the base model's, in its order; the data's
  // labels must be among them, and a class with no training image is trained on with a warning instead of
  // refused. base_model names the model or run it starts from (the finetune command has prepared --out).
  std::vector<std::string> classes;
  std::string base_model;
  double fixed_threshold = 0.0;     // > 0 (binary): keep this operating threshold instead of choosing one on validation
  double cache_gb = 4.0;            // RAM for decoded, resized images
  int max_epochs_this_run = 0;      // > 0: stop after this many epochs in this process (tests, budgets)
  bool force = false;               // replace an existing run folder (not stored in config.json)
  bool skip_test = false;           // --no-test: leave the test part unread (cellcam tune's trials; not stored)
  dist::DistOptions dist;           // --nproc, ranks and rendezvous (not stored: a resume may use another world size)
};

// --folds K without --fold runs run_cross_validation (cross_validation.h), which calls this per fold.
// With --nproc N it starts N ranks and waits for them; with RANK/WORLD_SIZE set (torchrun's convention)
// it is one rank of a data-parallel training (native/distributed/).
int run_train(const TrainSettings& settings);
// One training (or cross-validation) as one rank of `group` (a world of one: a plain training).
int run_train_in(const TrainSettings& settings, dist::Group& group);

// The allowed values of every numeric setting, in one place: `cellcam train --help` prints them, the
// option parser refuses what falls outside, and validate_settings() checks them again (a resumed run's
// config.json, the cross-validation driver, the tests).
struct SettingRange {
  const char* option;  // "--lr"
  double min, max;
  bool min_open, max_open;  // (0, 10]: min_open
  double (*get)(const TrainSettings&);
};
const std::vector<SettingRange>& setting_ranges();
const SettingRange* find_setting_range(const std::string& option);
std::string describe_range(const SettingRange& r);  // "(0, 10]"
bool in_range(const SettingRange& r, double value);  // false for NaN
// Ranges, the named choices (optimizer, colour, ...) and the rules between settings; one line on error.
Result<bool> validate_settings(const TrainSettings& s);

// The settings as config.json stores them, and back (fields missing from the JSON keep their defaults).
nlohmann::json settings_to_json(const TrainSettings& s);
TrainSettings settings_from_json(const nlohmann::json& j);

}  // namespace cellcam::train
