// search_space.h — what `cellcam tune` may vary, read from a SPACE.json file.
//
// Every key is a long option of `cellcam train` (without "--"), so a trial is a train command line and
// the best trial is a `--config` file. A value is a distribution or a fixed value:
//   {
//     "lr":              {"log_uniform": [1e-4, 1e-2]},
//     "weight-decay":    {"log_uniform": [1e-6, 1e-3]},
//     "batch-size":      {"choice": [32, 64, 128]},
//     "optimizer":       {"choice": ["adam", "adamw", "sgd"]},
//     "label-smoothing": {"uniform": [0.0, 0.2]},
//     "width":           {"int_uniform": [16, 64]},
//     "epochs": 6                                    // the same in every trial
//   }
// A flag option (e.g. "tta") takes true/false values. Whether the option exists and accepts the value is
// checked by the caller against train's own parser (tune_command.cpp), so this file knows no option.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "cellcam/error.h"

namespace cellcam::tune {

enum class ParamKind { kUniform, kLogUniform, kIntUniform, kChoice, kFixed };

struct Param {
  std::string name;  // a `cellcam train` option without "--", e.g. "lr"
  ParamKind kind = ParamKind::kFixed;
  double low = 0.0, high = 0.0;         // uniform, log_uniform (low > 0), int_uniform (integers)
  std::vector<nlohmann::json> choices;  // choice: numbers, strings or booleans; fixed: the one value
};

struct SearchSpace {
  std::vector<Param> params;  // in file order
  // The parameters a sampler draws (every kind but kFixed).
  std::vector<const Param*> searched() const;
};

Result<SearchSpace> parse_search_space(const std::string& json_text);
const char* param_kind_name(ParamKind kind);

// Every value a parameter can take at its edges (low, high, each choice): what the caller test-parses.
std::vector<nlohmann::json> edge_values(const Param& p);

// A parameter's value <-> a point of [0, 1] (log scale for log_uniform; the index's cell for a choice),
// the space the samplers work in.
double to_unit(const Param& p, const nlohmann::json& value);
nlohmann::json from_unit(const Param& p, double u);

// A value as it goes on a command line or in a TOML config: 0.001, 64, adam, true.
std::string value_text(const nlohmann::json& value);

}  // namespace cellcam::tune
