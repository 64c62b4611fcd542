// ensemble_command.cpp — every EnsembleSettings field as an option, its default shown by --help.
#include "ensemble_command.h"

#include <CLI/CLI.hpp>

namespace cellcam::cli {

void add_ensemble_command(CLI::App& app, train::EnsembleSettings& s) {
  CLI::App* cmd = app.add_subcommand("ensemble", "combine trained models by soft voting and stacking, scored against each "
                                                 "member on the same test split; writes a folder the page can run");
  cmd->add_option("members", s.members, "run folders or exported model folders (two or more)")->required()->expected(2, 64);
  cmd->add_option("--out", s.out, "output folder: ensemble.json, report.md, plots (and model.json + members/ for the page)")->required();
  cmd->add_option("--data", s.data, "labelled dataset (default: the first run member's)");
  cmd->add_option("--split", s.split, "split CSV whose val part fits the meta-model and whose test part scores "
                                      "(default: the first run member's split.csv)");
  cmd->add_option("--weights", s.weights, "soft-voting weights, one per member (default: equal)")->delimiter(',');
  cmd->add_option("--method", s.method, "what the exported model.json applies (auto: the lower validation log-loss, "
                                        "stacking's out of fold)")->capture_default_str()
      ->check(CLI::IsMember({"auto", "soft", "stacking"}));
  cmd->add_flag("--tta", s.tta, "every member averages the 8 flips/rotations of each image");
  cmd->add_option("--target-accuracy", s.target_accuracy, "referral rule: accuracy wanted on the images not referred (validation)")
      ->capture_default_str()->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--max-referral", s.max_referral, "referral rule: the largest share of images it may refer")
      ->capture_default_str()->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--name", s.name, "model.json name")->capture_default_str();
  cmd->add_option("--version", s.version, "model.json version")->capture_default_str();
  cmd->add_option("--batch-size", s.batch_size, "")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--bootstrap", s.bootstrap, "resamples for the 95% confidence intervals")->capture_default_str()->check(CLI::Range(10, 100000));
  cmd->add_option("--threads", s.threads, "LibTorch and decoding threads (0: all cores)")->capture_default_str()
      ->check(CLI::NonNegativeNumber);
}

}  // namespace cellcam::cli
