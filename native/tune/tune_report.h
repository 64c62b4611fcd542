// tune_report.h — what a search found: report.md, best.toml and the figures, rewritten after each trial
// so an interrupted search still has its report.
#pragma once

#include <string>
#include <vector>

#include "cellcam/error.h"
#include "search_space.h"
#include "trial.h"

namespace cellcam::tune {

struct ReportContext {
  std::string out;        // the search folder
  std::string data;
  std::string method;
  std::string objective;
  bool maximize = true;
  double budget_minutes = 0.0;
  long long seed = 42;
  int folds = 0;
};

// Index into `trials` of the best complete trial, or -1.
int best_trial(const std::vector<Trial>& trials, bool maximize);

// The TOML a `cellcam train --config` reads: one `option = value` line per parameter, strings quoted.
std::string config_toml(const nlohmann::json& params, const std::string& comment);

Result<bool> write_tune_report(const ReportContext& c, const SearchSpace& space, const std::vector<Trial>& trials);

}  // namespace cellcam::tune
