// train_config.cpp — TrainSettings as a TOML recipe (see train_config.h). Written from settings_to_json, so
// a setting added to config.json is in config.toml too, under its option's name (underscores -> dashes).
#include "train_config.h"

#include <set>

#include "toml_value.h"

namespace cellcam::train {
namespace {

// config.json keys that are not options of `cellcam train` (finetune fills them itself).
const std::set<std::string> kNotOptions = {"classes", "base_model", "fixed_threshold"};

std::string option_name(std::string key) {
  for (char& c : key)
    if (c == '_') c = '-';
  return key;
}

}  // namespace

std::string settings_to_toml(const TrainSettings& s) {
  std::string out =
      "# cellcam train recipe: `cellcam train --config THIS_FILE` repeats it; options given on the command line\n"
      "# override the file. Keys are the long options without their dashes (see cellcam train --help).\n";
  const nlohmann::json j = settings_to_json(s);
  for (const auto& [key, value] : j.items()) {
    if (kNotOptions.count(key) || value.is_array() || value.is_object()) continue;
    out += option_name(key) + " = " + native::toml_value(value) + "\n";
  }
  return out;
}

}  // namespace cellcam::train
