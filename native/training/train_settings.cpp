// train_settings.cpp — TrainSettings as config.json stores them, and back (see trainer.h): each field under
// its own name, and a key a config.json lacks (written by an older cellcam) keeps the field's default.
#include "trainer.h"

namespace cellcam::train {
using nlohmann::json;

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(TrainSettings, data, out, spec, preset, width, image_size,
    color, aspect, augment, stain_norm, drop_noisy, epochs, batch_size, optimizer, lr, weight_decay,
    momentum, schedule, warmup_epochs, class_weights, weighted_sampler, monitor, patience, val_fraction,
    test_fraction, folds, fold, target_sensitivity, ema, tta, positive_class, seed, threads, workers, device,
    init_from, cache_gb)

json settings_to_json(const TrainSettings& s) { return json(s); }

TrainSettings settings_from_json(const json& j) { return j.get<TrainSettings>(); }

}  // namespace cellcam::train
