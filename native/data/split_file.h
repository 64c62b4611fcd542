// split_file.h — `cellcam split DATA --out split.csv`: the train/val/test split `cellcam train` would
// make of DATA with these fractions and seed (stratified, and by group when the data has a group column),
// written without training. How an exported model, which keeps no split, is scored on its held-out part
// again (`cellcam eval MODEL --data DATA --split split.csv`), and how an ensemble's members share one.
#pragma once

#include <cstdint>
#include <string>

namespace cellcam::data {

struct SplitSettings {
  std::string data;
  std::string out = "split.csv";
  double val_fraction = 0.15;
  double test_fraction = 0.15;
  std::uint64_t seed = 42;
  int folds = 0;  // as `cellcam train --folds/--fold`: fold `fold` of a K-fold cross-validation
  int fold = 1;
};

int run_split(const SplitSettings& settings);

}  // namespace cellcam::data
