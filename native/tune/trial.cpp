// trial.cpp — trial records and the append-only trials file (see trial.h).
#include "trial.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <unistd.h>

namespace cellcam::tune {

using nlohmann::json;

const char* trial_status_name(TrialStatus s) {
  switch (s) {
    case TrialStatus::kComplete: return "complete";
    case TrialStatus::kPruned: return "pruned";
    case TrialStatus::kFailed: return "failed";
  }
  return "?";
}

json trial_to_json(const Trial& t) {
  json j{{"number", t.number}, {"params", t.params}, {"status", trial_status_name(t.status)},
         {"curve", t.curve}, {"seconds", t.seconds}};
  j["objective"] = std::isfinite(t.objective) ? json(t.objective) : json(nullptr);
  if (!t.error.empty()) j["error"] = t.error;
  return j;
}

Result<Trial> trial_from_json(const json& j) {
  Trial t;
  try {
    t.number = j.at("number").get<int>();
    t.params = j.at("params");
    const std::string status = j.at("status").get<std::string>();
    if (status == "complete") t.status = TrialStatus::kComplete;
    else if (status == "pruned") t.status = TrialStatus::kPruned;
    else if (status == "failed") t.status = TrialStatus::kFailed;
    else return make_error(ErrorCode::kCorrupt, "unknown trial status \"" + status + "\"");
    t.objective = j.at("objective").is_null() ? NAN : j.at("objective").get<double>();
    t.curve = j.at("curve").get<std::vector<double>>();
    t.seconds = j.at("seconds").get<double>();
    if (j.contains("error")) t.error = j["error"].get<std::string>();
  } catch (const json::exception& e) {
    return make_error(ErrorCode::kCorrupt, std::string("trial record: ") + e.what());
  }
  return t;
}

Result<std::vector<Trial>> read_trials(const std::string& path) {
  std::vector<Trial> trials;
  std::ifstream in(path);
  if (!in) return trials;
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) lines.push_back(line);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const json j = json::parse(lines[i], nullptr, /*allow_exceptions=*/false);
    Result<Trial> t = j.is_discarded() ? Result<Trial>(make_error(ErrorCode::kCorrupt, "not JSON")) : trial_from_json(j);
    if (!t) {
      if (i + 1 == lines.size()) break;  // torn by a kill while writing: that trial runs again
      return make_error(ErrorCode::kCorrupt, path + " line " + std::to_string(i + 1) + ": " + t.error().message);
    }
    trials.push_back(t.take());
  }
  return trials;
}

Result<bool> append_trial(const std::string& path, const Trial& t) {
  const std::string line = trial_to_json(t).dump() + "\n";
  std::FILE* f = std::fopen(path.c_str(), "a");
  if (!f) return make_error(ErrorCode::kIo, "cannot append to " + path);
  const bool ok = std::fwrite(line.data(), 1, line.size(), f) == line.size() && std::fflush(f) == 0 && fsync(fileno(f)) == 0;
  if (std::fclose(f) != 0 || !ok) return make_error(ErrorCode::kIo, "cannot write " + path + " (disk full?)");
  return true;
}

}  // namespace cellcam::tune
