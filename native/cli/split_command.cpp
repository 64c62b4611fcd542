// split_command.cpp — every SplitSettings field as an option, its default shown by --help.
#include "split_command.h"

#include <CLI/CLI.hpp>

namespace cellcam::cli {

void add_split_command(CLI::App& app, data::SplitSettings& s) {
  CLI::App* cmd = app.add_subcommand("split", "write the train/val/test split `cellcam train` makes of a dataset (no training)");
  cmd->add_option("data", s.data, "folder per class, Kaggle folder (labels.csv) or manifest CSV (path,label[,group])")->required();
  cmd->add_option("--out", s.out, "CSV to write: path,label,group,part")->capture_default_str();
  cmd->add_option("--val-fraction", s.val_fraction, "")->capture_default_str()->check(CLI::Range(0.0, 0.99));
  cmd->add_option("--test-fraction", s.test_fraction, "")->capture_default_str()->check(CLI::Range(0.0, 0.99));
  cmd->add_option("--seed", s.seed, "as `cellcam train --seed`")->capture_default_str();
  cmd->add_option("--folds", s.folds, "K-fold cross-validation by patient: write fold --fold's split (test = that fold; 0: off)")
      ->capture_default_str()
      ->check(CLI::Range(0, 100));
  cmd->add_option("--fold", s.fold, "which fold is the test part, 1..folds")->capture_default_str()->check(CLI::Range(1, 100));
}

}  // namespace cellcam::cli
