// train_settings.cpp — TrainSettings as config.json stores them, and back (see trainer.h).
#include "trainer.h"

namespace cellcam::train {
using nlohmann::json;

json settings_to_json(const TrainSettings& s) {
  return json{{"data", s.data}, {"out", s.out}, {"spec", s.spec}, {"preset", s.preset}, {"width", s.width},
              {"image_size", s.image_size}, {"color", s.color}, {"aspect", s.aspect}, {"augment", s.augment},
              {"stain_norm", s.stain_norm}, {"drop_noisy", s.drop_noisy}, {"epochs", s.epochs}, {"batch_size", s.batch_size}, {"optimizer", s.optimizer}, {"lr", s.lr},
              {"weight_decay", s.weight_decay}, {"momentum", s.momentum}, {"schedule", s.schedule},
              {"warmup_epochs", s.warmup_epochs}, {"class_weights", s.class_weights},
              {"weighted_sampler", s.weighted_sampler}, {"monitor", s.monitor}, {"patience", s.patience},
              {"val_fraction", s.val_fraction}, {"test_fraction", s.test_fraction}, {"folds", s.folds}, {"fold", s.fold},
              {"target_sensitivity", s.target_sensitivity}, {"ema", s.ema}, {"tta", s.tta}, {"positive_class", s.positive_class}, {"seed", s.seed}, {"threads", s.threads},
              {"workers", s.workers}, {"device", s.device}, {"init_from", s.init_from}, {"cache_gb", s.cache_gb}};
}

TrainSettings settings_from_json(const json& j) {
  TrainSettings s;
  s.data = j.value("data", s.data);
  s.out = j.value("out", s.out);
  s.spec = j.value("spec", s.spec);
  s.preset = j.value("preset", s.preset);
  s.width = j.value("width", s.width);
  s.image_size = j.value("image_size", s.image_size);
  s.color = j.value("color", s.color);
  s.aspect = j.value("aspect", s.aspect);
  s.augment = j.value("augment", s.augment);
  s.stain_norm = j.value("stain_norm", s.stain_norm);
  s.drop_noisy = j.value("drop_noisy", s.drop_noisy);
  s.epochs = j.value("epochs", s.epochs);
  s.batch_size = j.value("batch_size", s.batch_size);
  s.optimizer = j.value("optimizer", s.optimizer);
  s.lr = j.value("lr", s.lr);
  s.weight_decay = j.value("weight_decay", s.weight_decay);
  s.momentum = j.value("momentum", s.momentum);
  s.schedule = j.value("schedule", s.schedule);
  s.warmup_epochs = j.value("warmup_epochs", s.warmup_epochs);
  s.class_weights = j.value("class_weights", s.class_weights);
  s.weighted_sampler = j.value("weighted_sampler", s.weighted_sampler);
  s.monitor = j.value("monitor", s.monitor);
  s.patience = j.value("patience", s.patience);
  s.val_fraction = j.value("val_fraction", s.val_fraction);
  s.test_fraction = j.value("test_fraction", s.test_fraction);
  s.folds = j.value("folds", s.folds);
  s.fold = j.value("fold", s.fold);
  s.target_sensitivity = j.value("target_sensitivity", s.target_sensitivity);
  s.ema = j.value("ema", s.ema);
  s.tta = j.value("tta", s.tta);
  s.positive_class = j.value("positive_class", s.positive_class);
  s.seed = j.value("seed", s.seed);
  s.threads = j.value("threads", s.threads);
  s.workers = j.value("workers", s.workers);
  s.device = j.value("device", s.device);
  s.init_from = j.value("init_from", s.init_from);
  s.cache_gb = j.value("cache_gb", s.cache_gb);
  return s;
}

}  // namespace cellcam::train
