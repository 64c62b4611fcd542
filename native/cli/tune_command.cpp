// tune_command.cpp — `cellcam tune`'s options, and train's parser lent to the tune library: a space value
// is accepted only if `cellcam train DATA --NAME VALUE` parses, so a typo fails before the first trial.
#include "tune_command.h"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <memory>

#include "config_file.h"
#include "train_command.h"

namespace cellcam::cli {
namespace {

// A throwaway `cellcam train` parser per question: CLI11 keeps parse state, and a check is cheap.
struct TrainParser {
  CLI::App app;
  train::TrainSettings settings;
  CLI::App* train = nullptr;
  TrainParser() {
    add_train_command(app, settings);
    train = app.get_subcommand("train");
  }
};

std::string check_train_option(const std::string& data, const std::string& name, const std::string& value) {
  TrainParser p;
  const CLI::Option* opt = p.train->get_option_no_throw("--" + name);
  if (opt == nullptr) return "`cellcam train` has no option --" + name + " (see cellcam train --help)";
  std::vector<std::string> args{"cellcam", "train", data, "--" + name};
  if (opt->get_expected_max() != 0) args.push_back(value);  // a flag takes no value
  std::vector<const char*> argv;
  for (const std::string& a : args) argv.push_back(a.c_str());
  try {
    p.app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::ParseError& e) {
    return e.what();
  }
  // The named choices (optimizer, monitor, ...) are strings to the parser; train checks them here.
  Result<bool> valid = train::validate_settings(p.settings);
  return valid ? "" : valid.error().message;
}

bool is_train_flag(const std::string& name) {
  TrainParser p;
  const CLI::Option* opt = p.train->get_option_no_throw("--" + name);
  return opt != nullptr && opt->get_expected_max() == 0;
}

}  // namespace

void add_tune_command(CLI::App& app, tune::TuneSettings& s) {
  CLI::App* cmd = app.add_subcommand("tune", "hyper-parameter search over `cellcam train`: random or Bayesian (TPE) trials, "
                                             "median stopping, a budget, resumable (OUT/report.md, OUT/best.toml)");
  cmd->add_option("data", s.data, "dataset, as for `cellcam train` (every trial gets the same --seed, hence the same split)")
      ->required();
  cmd->add_option("--space", s.space, "SPACE.json: train options without dashes -> {\"uniform\"|\"log_uniform\"|\"int_uniform\": "
                                      "[low, high]} or {\"choice\": [...]} or a fixed value")
      ->required()->check(CLI::ExistingFile);
  cmd->add_option("--out", s.out, "search folder: tune.json, trials.jsonl, trials/trial-N runs, report.md, best.toml; "
                                  "the same command again resumes it")->capture_default_str();
  cmd->add_option("--trials", s.trials, "trials in all (a resumed search counts the ones already finished)")
      ->capture_default_str()->check(CLI::Range(1, 10000));
  cmd->add_option("--method", s.method, "random | bayes (tree-structured Parzen estimator after --startup random trials)")
      ->capture_default_str()->check(CLI::IsMember({"random", "bayes"}));
  cmd->add_option("--objective", s.objective, "validation metric to optimise (val_loss is minimised, the others maximised)")
      ->capture_default_str()->check(CLI::IsMember({"val_accuracy", "val_auc", "val_f1", "val_loss"}));
  cmd->add_option("--budget-minutes", s.budget_minutes, "wall-clock budget: no trial starts after it and a running one is "
                                                        "stopped (not counted); 0 = none")
      ->capture_default_str()->check(CLI::Range(0.0, 1e6));
  cmd->add_option("--seed", s.seed, "the split's and every trial's seed, and the sampler's")->capture_default_str();
  cmd->add_option("--startup", s.startup, "bayes: random trials before the model takes over")->capture_default_str()
      ->check(CLI::Range(1, 1000));
  cmd->add_option("--pruner", s.pruner, "median: stop a trial whose best so far is below the finished trials' median at "
                                        "the same epoch; none")
      ->capture_default_str()->check(CLI::IsMember({"median", "none"}));
  cmd->add_option("--prune-min-epochs", s.prune_min_epochs, "median: epochs a trial always gets")->capture_default_str()
      ->check(CLI::Range(1, 1000));
  cmd->add_option("--prune-min-trials", s.prune_min_trials, "median: finished trials needed before any stopping")
      ->capture_default_str()->check(CLI::Range(1, 1000));
  cmd->add_option("--folds", s.folds, "each trial a K-fold cross-validation (objective = the folds' mean); 0 = one split")
      ->capture_default_str()->check(CLI::Range(0, 20));
  cmd->add_option("--threads", s.threads, "each trial's --threads (0: all cores)")->capture_default_str()
      ->check(CLI::Range(0, 1024));
  add_config_option(cmd);
}

int run_tune_command(const tune::TuneSettings& s) {
  if (s.folds == 1) {
    std::fprintf(stderr, "cellcam tune: --folds needs 2 or more (0 = one split)\n");
    return 1;
  }
  std::error_code ec;
  std::string self = std::filesystem::read_symlink("/proc/self/exe", ec).string();
  if (ec) {
    std::fprintf(stderr, "cellcam tune: cannot find this program's path: %s\n", ec.message().c_str());
    return 1;
  }
  const tune::TrainOptions train{self,
                                 [&s](const std::string& name, const std::string& value) { return check_train_option(s.data, name, value); },
                                 is_train_flag};
  Result<int> r = tune::run_tune(s, train);
  if (!r) {
    std::fprintf(stderr, "cellcam tune: %s\n", r.error().message.c_str());
    return 1;
  }
  return 0;
}

}  // namespace cellcam::cli
