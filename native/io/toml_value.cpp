// toml_value.cpp — see toml_value.h.
#include "toml_value.h"

namespace cellcam::native {

std::string toml_value(const nlohmann::json& v) {
  if (!v.is_string()) return v.dump();
  const std::string text = v.get<std::string>();
  if (text.find_first_of("\"\\") == std::string::npos) return "\"" + text + "\"";
  return "'" + text + "'";
}

}  // namespace cellcam::native
