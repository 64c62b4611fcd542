// scored_data.h — which labelled images a command scores: all of a dataset, or one part (val | test) of a
// split. eval, calibrate and ensemble share it, so they read a run's split and relabel classes the same way.
// Includes LibTorch (through trained_model.h): only for translation units that already need it.
#pragma once

#include <string>
#include <vector>

#include "cellcam/error.h"
#include "dataset.h"
#include "trained_model.h"

namespace cellcam::train {

struct ScoredData {
  data::Dataset dataset;      // classes in the model's order
  std::vector<int> samples;   // indices into dataset.samples
  std::string path;           // the dataset's path
  std::string split_path;     // the split file the part came from (empty: all of the dataset)
  bool own_split = false;     // one part of a split, rather than all of `data`
};

// data empty: the run's own data (config.json) and split (RUN/split.csv), part `part`.
// data given, split empty: every image of `data`. data and split given: part `part` of that split file
// (`cellcam split` writes one; a model folder keeps none).
Result<ScoredData> scored_data(const LoadedRun& r, const std::string& run, const std::string& data, const std::string& part,
                               const std::string& split = "");

}  // namespace cellcam::train
