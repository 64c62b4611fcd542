// summary_command.cpp — see summary_command.h. No data is read: the table needs only the spec.
#include "summary_command.h"

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cellcam/model_summary.h"

namespace cellcam::cli {

int print_model_summary(const train::TrainSettings& s) {
  nlohmann::json j;
  if (!s.spec.empty()) {
    std::ifstream in(s.spec);
    std::stringstream text;
    text << in.rdbuf();
    j = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
    if (!in || j.is_discarded() || !j.is_object()) {
      std::fprintf(stderr, "cellcam train: %s is not a readable JSON object\n", s.spec.c_str());
      return 1;
    }
  } else {
    j["name"] = s.preset;
    j["architecture"] = {{"preset", s.preset}, {"width", s.width}};
    j["preprocess"] = {{"width", s.image_size}, {"height", s.image_size}, {"color", s.color}};
  }
  if (!j.contains("classes")) j["classes"] = {"negative", "positive"};
  Result<ModelSpec> spec = parse_model_spec(j.dump());
  Result<std::string> table = spec ? model_summary(spec.value()) : Result<std::string>(spec.error());
  if (!table) {
    std::fprintf(stderr, "cellcam train: %s\n", table.error().message.c_str());
    return 1;
  }
  std::fputs(table.value().c_str(), stdout);
  return 0;
}

}  // namespace cellcam::cli
