// train_settings.cpp — TrainSettings as config.json stores them, and back (see trainer.h): each field under
// its own name, and a key a config.json lacks (written by an older cellcam) keeps the field's default;
// and what values each setting allows.
#include "trainer.h"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace cellcam::train {
using nlohmann::json;

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(TrainSettings, data, out, spec, preset, width, image_size,
    color, aspect, augment, stain_norm, stain_method, drop_noisy, epochs, batch_size, optimizer, lr, weight_decay,
    momentum, schedule, warmup_epochs, class_weights, weighted_sampler, monitor, patience, val_fraction,
    test_fraction, folds, fold, target_sensitivity, ema, tta, positive_class, seed, threads, workers, device,
    init_from, cache_gb, classes, base_model, fixed_threshold, label_smoothing, mixup, cutmix, mix_prob,
    teacher, distill_temperature, distill_weight)

json settings_to_json(const TrainSettings& s) { return json(s); }

TrainSettings settings_from_json(const json& j) { return j.get<TrainSettings>(); }

// Upper bounds are generous sanity limits (a typo such as --epochs 30000000 or --lr 1e6 is caught, any
// real setting passes); lower bounds are what the trainer needs (a batch of 0 divides by zero).
const std::vector<SettingRange>& setting_ranges() {
  static const std::vector<SettingRange> ranges = {
      {"--width", 1, 1024, false, false, [](const TrainSettings& s) { return double(s.width); }},
      {"--image-size", 8, 4096, false, false, [](const TrainSettings& s) { return double(s.image_size); }},
      {"--epochs", 1, 100000, false, false, [](const TrainSettings& s) { return double(s.epochs); }},
      {"--batch-size", 1, 65536, false, false, [](const TrainSettings& s) { return double(s.batch_size); }},
      {"--lr", 0, 10, true, false, [](const TrainSettings& s) { return s.lr; }},
      {"--weight-decay", 0, 1, false, false, [](const TrainSettings& s) { return s.weight_decay; }},
      {"--momentum", 0, 1, false, true, [](const TrainSettings& s) { return s.momentum; }},
      {"--warmup-epochs", 0, 100000, false, false, [](const TrainSettings& s) { return s.warmup_epochs; }},
      {"--drop-noisy", 0, 0.5, false, true, [](const TrainSettings& s) { return s.drop_noisy; }},
      {"--label-smoothing", 0, 0.5, false, false, [](const TrainSettings& s) { return s.label_smoothing; }},
      {"--mixup", 0, 10, false, false, [](const TrainSettings& s) { return s.mixup; }},
      {"--cutmix", 0, 10, false, false, [](const TrainSettings& s) { return s.cutmix; }},
      {"--mix-prob", 0, 1, false, false, [](const TrainSettings& s) { return s.mix_prob; }},
      {"--distill-temperature", 0, 100, true, false, [](const TrainSettings& s) { return s.distill_temperature; }},
      {"--distill-weight", 0, 1, false, false, [](const TrainSettings& s) { return s.distill_weight; }},
      {"--patience", 0, 100000, false, false, [](const TrainSettings& s) { return double(s.patience); }},
      {"--val-fraction", 0, 1, true, true, [](const TrainSettings& s) { return s.val_fraction; }},
      {"--test-fraction", 0, 1, false, true, [](const TrainSettings& s) { return s.test_fraction; }},
      {"--folds", 0, 100, false, false, [](const TrainSettings& s) { return double(s.folds); }},
      {"--fold", 0, 100, false, false, [](const TrainSettings& s) { return double(s.fold); }},
      {"--target-sensitivity", 0, 1, false, true, [](const TrainSettings& s) { return s.target_sensitivity; }},
      {"--ema", 0, 1, false, true, [](const TrainSettings& s) { return s.ema; }},
      {"--threads", 0, 1024, false, false, [](const TrainSettings& s) { return double(s.threads); }},
      {"--workers", 0, 64, false, false, [](const TrainSettings& s) { return double(s.workers); }},
      {"--cache-gb", 0, 1 << 20, false, false, [](const TrainSettings& s) { return s.cache_gb; }},
      {"--max-epochs-this-run", 0, 100000, false, false, [](const TrainSettings& s) { return double(s.max_epochs_this_run); }},
  };
  return ranges;
}

const SettingRange* find_setting_range(const std::string& option) {
  for (const SettingRange& r : setting_ranges())
    if (option == r.option) return &r;
  return nullptr;
}

std::string describe_range(const SettingRange& r) {
  std::ostringstream out;
  out << (r.min_open ? "(" : "[") << r.min << ", " << r.max << (r.max_open ? ")" : "]");
  return out.str();
}

bool in_range(const SettingRange& r, double v) {
  if (!std::isfinite(v)) return false;
  return (r.min_open ? v > r.min : v >= r.min) && (r.max_open ? v < r.max : v <= r.max);
}

namespace {

Result<bool> one_of(const char* option, const std::string& value, const std::vector<std::string>& allowed) {
  if (std::find(allowed.begin(), allowed.end(), value) != allowed.end()) return true;
  std::string list;
  for (const std::string& a : allowed) list += (list.empty() ? "" : ", ") + a;
  return make_error(ErrorCode::kInvalidArgument, std::string(option) + " \"" + value + "\" is not one of: " + list);
}

}  // namespace

Result<bool> validate_settings(const TrainSettings& s) {
  for (const SettingRange& r : setting_ranges()) {
    const double v = r.get(s);
    if (in_range(r, v)) continue;
    std::ostringstream value;
    value << v;
    return make_error(ErrorCode::kInvalidArgument, std::string(r.option) + " " + value.str() + " is outside " + describe_range(r));
  }
  for (Result<bool> ok : {one_of("--color", s.color, {"rgb", "gray", "hsv"}),
                          one_of("--aspect", s.aspect, {"stretch", "pad", "crop"}),
                          one_of("--optimizer", s.optimizer, {"adam", "adamw", "sgd", "rmsprop"}),
                          one_of("--monitor", s.monitor, {"val_loss", "val_accuracy", "val_auc", "val_f1"}),
                          one_of("--device", s.device, {"auto", "cpu", "cuda"})})
    if (!ok) return ok;
  if (s.folds == 1) return make_error(ErrorCode::kInvalidArgument, "--folds 1 is not cross-validation: use 0 (one split) or 2 to 100");
  if (s.fold > s.folds) return make_error(ErrorCode::kInvalidArgument, "--fold must be from 1 to --folds (0: all folds)");
  if (s.folds == 0 && s.val_fraction + s.test_fraction >= 0.95)
    return make_error(ErrorCode::kInvalidArgument, "--val-fraction + --test-fraction must leave at least 5% of the images for training");
  return true;
}

}  // namespace cellcam::train
