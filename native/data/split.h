// split.h — train / validation / test splits of a Dataset, stratified by class and, when the dataset
// has groups (patients), by group: the cells of one patient are so alike that a patient in both train
// and test inflates test accuracy by several points.
//
// Reproducible: the same dataset, fractions and seed give the same split on every platform and
// compiler (our own Fisher-Yates over std::mt19937_64; std::shuffle and the std distributions are
// implementation-defined). Save the split with write_split_csv so evaluation reads the very same one.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cellcam/error.h"
#include "dataset.h"

namespace cellcam::data {

enum class Part { kTrain, kVal, kTest };

// "train", "val", "test": the spelling of the part column of a split CSV.
const char* part_name(Part part);

struct Split {
  std::vector<int> train, val, test;  // indices into Dataset::samples, ascending
};

struct SplitOptions {
  double val_fraction = 0.15;
  double test_fraction = 0.15;  // each in [0, 1), val + test < 1; train gets the rest
  std::uint64_t seed = 42;
  int folds = 0;  // >= 2: K-fold cross-validation, test = fold `fold` (test_fraction unused)
  int fold = 1;   // 1..folds
};

// Per class: shuffle that class's samples with the seed and cut them by the fractions. The counts are
// rounded by largest remainder (ties favour train), so they add up to the class size and a class
// of 1 or 2 images stays in train.
Result<Split> stratified_split(const Dataset& dataset, const SplitOptions& options);

// No group in two parts; part sizes and class proportions as close to the targets as whole groups
// allow. Samples with an empty group are groups of their own. Algorithm in split.cpp.
Result<Split> stratified_group_split(const Dataset& dataset, const SplitOptions& options);

// K-fold cross-validation by group: the groups (each ungrouped sample its own) are dealt into
// `folds` folds of equal size and class mix as stratified_group_split deals parts; fold `fold` is the
// test part, and val_fraction of the whole dataset is dealt, group-wise, out of the other folds. The
// fold assignment depends on the seed only, so the K test parts of one seed partition the dataset.
Result<Split> cross_validation_split(const Dataset& dataset, const SplitOptions& options);

// cross_validation_split when options.folds > 0, else stratified_group_split when dataset.has_groups,
// else stratified_split.
Result<Split> make_split(const Dataset& dataset, const SplitOptions& options);

// CSV with header path,label,group,part (label: the class name; part: train, val or test), one row
// per sample in the split, in sample order. Written to a temporary file first and renamed, so a
// crash never leaves half a split behind.
Result<bool> write_split_csv(const std::string& path, const Dataset& dataset, const Split& split);

// Reads a split written by write_split_csv back into indices of `dataset` (loaded again the same
// way). Rows are matched by path: as written, else as the same absolute path. A path that is not in
// the dataset, a label that disagrees with it, a path listed twice or an unknown part is an error:
// the split no longer describes this dataset. Samples the file does not list are in no part.
Result<Split> read_split_csv(const std::string& path, const Dataset& dataset);

}  // namespace cellcam::data
