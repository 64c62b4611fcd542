// stain_targets.h — `cellcam train --stain-norm`: measure the stain normalisation targets on the training
// images, for the method --stain-method names (rgb | reinhard | macenko; shared/include/cellcam/stain.h).
// Kept out of trainer.cpp (and free of LibTorch) so it compiles in seconds and can be tested alone.
#pragma once

#include <string>
#include <vector>

#include "cellcam/error.h"
#include "cellcam/spec.h"
#include "dataset.h"

namespace cellcam::train {

// Up to 1,000 training images, in the split's order (deterministic, so a resumed run gets the same targets):
//   rgb       mean of the per-image foreground RGB means and stds (as before --stain-method existed)
//   reinhard  mean of the per-image foreground lαβ means and stds
//   macenko   mean of the per-image stain vectors (each renormalised to unit length) and max concentrations
// Images too degenerate to measure (stain.h) are skipped; none measurable is an error.
Result<StainSpec> training_stain_targets(const data::Dataset& dataset, const std::vector<int>& train,
                                         const PreprocessSpec& spec, const std::string& method);

// One line for the log: the method and its targets.
std::string describe_stain_targets(const StainSpec& stain);

}  // namespace cellcam::train
