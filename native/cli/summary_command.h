// summary_command.h — `cellcam train --summary`: the model `cellcam train` would build, as a layer table.
#pragma once

#include "trainer.h"

namespace cellcam::cli {

// Prints model_summary() of the spec from --spec, or from --preset and the input options (two placeholder
// classes when neither gives classes: a binary head). Returns the exit code; one-line error on stderr.
int print_model_summary(const train::TrainSettings& settings);

}  // namespace cellcam::cli
