// trial.h — one trial of a search: what was tried and what it scored, and the trials file that makes a
// search resumable.
//
// OUT/trials.jsonl holds one JSON line per finished trial, appended and flushed when the trial ends, so a
// killed search loses at most the trial that was running. A torn last line (killed mid-write) is ignored.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "cellcam/error.h"

namespace cellcam::tune {

enum class TrialStatus { kComplete, kPruned, kFailed };

struct Trial {
  int number = 0;              // 1, 2, ... in the order they ran
  nlohmann::json params;       // option -> value, every parameter of the space (fixed ones included)
  TrialStatus status = TrialStatus::kFailed;
  double objective = 0.0;      // the best validation value over its epochs (pruned: up to where it stopped)
  std::vector<double> curve;   // the objective's value after each epoch
  double seconds = 0.0;
  std::string error;           // failed: the trial's last log line
};

const char* trial_status_name(TrialStatus s);

nlohmann::json trial_to_json(const Trial& t);
Result<Trial> trial_from_json(const nlohmann::json& j);

// Reads OUT/trials.jsonl (missing file: no trials). A malformed line other than the last is an error.
Result<std::vector<Trial>> read_trials(const std::string& path);
Result<bool> append_trial(const std::string& path, const Trial& t);

}  // namespace cellcam::tune
