// config_file.cpp — see config_file.h.
#include "config_file.h"

#include <CLI/CLI.hpp>

namespace cellcam::cli {
namespace {

[[noreturn]] void refuse(const std::string& file, const std::string& why) {
  throw CLI::ValidationError("--config " + file, why);
}

// One `key = value` of the file onto `cmd`'s option of that name, unless the command line set it.
void apply_item(CLI::App* cmd, const std::string& file, const CLI::ConfigItem& item) {
  if (item.name == "++" || item.name == "--") return;  // CLI11's markers around a section; refused below
  if (!item.parents.empty()) refuse(file, "sections are not used ([" + item.parents.front() + "]): write each key at the top");
  CLI::Option* option = cmd->get_option_no_throw("--" + item.name);
  if (option == nullptr) option = cmd->get_option_no_throw(item.name);  // a positional, e.g. data
  if (option == nullptr || item.name == "config" || item.name == "help")
    refuse(file, "unknown key \"" + item.name + "\" (keys are the long options of `cellcam " + cmd->get_name() +
                     "` without the dashes, e.g. batch-size)");
  if (option->count() > 0) return;  // the command line wins
  try {
    if (option->get_expected_min() == 0) {  // a flag: true / false
      option->add_result(option->get_flag_value(item.name, CLI::ConfigTOML().to_flag(item)));
    } else {
      option->add_result(item.inputs);
    }
    option->run_callback();
  } catch (const CLI::ParseError& e) {
    std::string value;
    for (const std::string& v : item.inputs) value += (value.empty() ? "" : " ") + v;
    refuse(file, item.name + " = " + value + ": " + e.what());
  }
}

void apply_file(CLI::App* cmd, const std::string& file) {
  std::vector<CLI::ConfigItem> items;
  try {
    items = CLI::ConfigTOML().from_file(file);
  } catch (const CLI::ParseError& e) {
    refuse(file, e.what());
  }
  for (const CLI::ConfigItem& item : items) apply_item(cmd, file, item);
}

}  // namespace

void add_config_option(CLI::App* cmd, std::function<void()> then) {
  CLI::Option* config = cmd->add_option("--config", "a TOML file of options, one `key = value` a line, keys the long options "
                                                    "without dashes (lr = 0.001, augment = \"cells\", tta = true); the command "
                                                    "line overrides it. RUN/config.toml reproduces that run")
                            ->check(CLI::ExistingFile);
  // Runs once the command line is parsed and its options set, before the command's final callback.
  cmd->parse_complete_callback([cmd, config, then] {
    if (config->count() > 0) apply_file(cmd, config->as<std::string>());
    if (then) then();
  });
}

}  // namespace cellcam::cli
