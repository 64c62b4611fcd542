// split_command.cpp — see split_command.h. The same load_dataset + make_split calls as the trainer, so
// the same data, fractions and seed give the same file as a run's split.csv.
#include "split_command.h"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>

#include "dataset.h"
#include "split.h"

namespace cellcam::cli {

void add_split_command(CLI::App& app, SplitSettings& s) {
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

int run_split(const SplitSettings& s) {
  Result<data::Dataset> dataset = data::load_dataset(s.data);
  if (!dataset) {
    std::fprintf(stderr, "cellcam split: %s: %s\n", s.data.c_str(), dataset.error().message.c_str());
    return 1;
  }
  const std::filesystem::path parent = std::filesystem::path(s.out).parent_path();
  std::error_code ec;
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  if (ec) {
    std::fprintf(stderr, "cellcam split: cannot create %s: %s\n", parent.string().c_str(), ec.message().c_str());
    return 1;
  }
  Result<data::Split> split = data::make_split(dataset.value(), {s.val_fraction, s.test_fraction, s.seed, s.folds, s.fold});
  Result<bool> written = split ? data::write_split_csv(s.out, dataset.value(), split.value()) : Result<bool>(split.error());
  if (!written) {
    std::fprintf(stderr, "cellcam split: %s\n", written.error().message.c_str());
    return 1;
  }
  std::printf("cellcam split: %s: %zu train, %zu val, %zu test%s -> %s\n", s.data.c_str(), split.value().train.size(),
              split.value().val.size(), split.value().test.size(), dataset.value().has_groups ? " (no group in two parts)" : "",
              s.out.c_str());
  return 0;
}

}  // namespace cellcam::cli
