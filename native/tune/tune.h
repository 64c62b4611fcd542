// tune.h — `cellcam tune DATA --space SPACE.json --trials N`: hyper-parameter search over `cellcam train`.
//
// Each trial is a `cellcam train` process (its own run folder OUT/trials/trial-NNN, log beside it) with
// the proposed options; its objective is the best validation value over its epochs, read from the run's
// metrics.csv (with --folds K: the mean over the K folds' validation parts). Every trial gets the same
// --seed, hence the same split: the test part is never read by tune, so it stays a test for the run the
// search picks. The search folder:
//   tune.json      the settings and the space: a rerun with the same --out resumes (another space is refused)
//   trials.jsonl   one line per finished trial (see trial.h)
//   report.md      table of trials, the best, figures: objective.png, param-<name>.png
//   best.toml      the best trial's options as a `cellcam train --config` file
#pragma once

#include <functional>
#include <string>

#include "cellcam/error.h"
#include "sampler.h"
#include "search_space.h"

namespace cellcam::tune {

struct TuneSettings {
  std::string data;
  std::string space;            // SPACE.json
  std::string out = "tune";
  int trials = 20;
  std::string method = "bayes";         // random | bayes
  std::string objective = "val_accuracy";  // val_accuracy | val_auc | val_f1 | val_loss
  double budget_minutes = 0.0;  // 0: no limit; else no trial starts after it, and a running one is stopped
  long long seed = 42;          // the split's and every trial's seed; the sampler's too
  int startup = 5;              // bayes: random trials first
  std::string pruner = "median";  // median | none
  int prune_min_epochs = 2;
  int prune_min_trials = 3;
  int folds = 0;                // >= 2: each trial is a K-fold cross-validation; objective = mean
  int threads = 0;              // passed to each trial's --threads (0: all cores)
};

// How tune learns about train's options without depending on the CLI: the CLI passes these.
struct TrainOptions {
  std::string executable;  // the cellcam binary
  // "" when `train --NAME VALUE` parses, else the parser's one-line complaint.
  std::function<std::string(const std::string& name, const std::string& value)> check;
  std::function<bool(const std::string& name)> is_flag;
};

// Runs (or resumes) the search; returns the number of trials finished in this call.
Result<int> run_tune(const TuneSettings& s, const TrainOptions& train);

bool maximizes(const std::string& objective);

}  // namespace cellcam::tune
