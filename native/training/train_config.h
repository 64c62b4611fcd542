// train_config.h — a training recipe as a file: TrainSettings as TOML, one `key = value` line per option of
// `cellcam train`, keys the long option names without the dashes (`lr = 0.001`, `batch-size = 64`,
// `augment = "cells"`, `class-weights = false`). `cellcam train --config FILE` reads it (the command line
// overrides it), every run writes RUN/config.toml, and `cellcam tune` writes its best recipe the same way.
// Left out, as from config.json: what belongs to one process or machine rather than to the recipe (--resume,
// --force, --max-epochs-this-run, the distributed options) and finetune's own fields (classes, base model).
// Torch-free.
#pragma once

#include <string>

#include "trainer.h"

namespace cellcam::train {

// Every recipe setting of `s`, sorted by key, with a header comment; reading it back with --config gives
// the same settings (tests/native/test_cli_config.cmake).
std::string settings_to_toml(const TrainSettings& s);

}  // namespace cellcam::train
