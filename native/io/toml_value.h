// toml_value.h — one value of a `key = value` recipe line as `cellcam train --config` reads it back
// (native/cli/config_file.h). Written by RUN/config.toml (train_config) and tune's best.toml, so both
// files quote and print numbers the same way.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace cellcam::native {

// Strings quoted: "..." , or '...' (a TOML literal string) when the value holds a double quote or a
// backslash, because CLI11 strips the quotes without unescaping. Numbers in the shortest form that reads
// back exactly; booleans true/false.
std::string toml_value(const nlohmann::json& v);

}  // namespace cellcam::native
