// eval_command.cpp — every EvalSettings field as an option, its default shown by --help.
#include "eval_command.h"

#include <CLI/CLI.hpp>

namespace cellcam::cli {

void add_eval_command(CLI::App& app, train::EvalSettings& s) {
  CLI::App* cmd = app.add_subcommand("eval", "score a trained run on its test split, or on any labelled dataset");
  cmd->add_option("run", s.run, "run folder written by `cellcam train`")->required();
  cmd->add_option("--data", s.data, "labelled dataset to evaluate entirely (ImageFolder, Kaggle or manifest CSV); "
                                    "default: the run's own test split");
  cmd->add_option("--split", s.split, "with --data: score only the test part of this split CSV (`cellcam split` or a run's "
                                      "split.csv); how an exported model folder is scored on its held-out split")->needs("--data");
  cmd->add_option("--part", s.part, "which part of the split to score (val: to decide settings such as --tta without "
                                    "looking at test)")->capture_default_str()->check(CLI::IsMember({"test", "val"}));
  cmd->add_option("--checkpoint", s.checkpoint, "best | last | path to a checkpoint .pt")->capture_default_str();
  cmd->add_option("--out", s.out, "folder for eval.json and predictions.csv (default: RUN/eval)");
  cmd->add_option("--batch-size", s.batch_size, "")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_flag("--tta", s.tta, "average the 8 flips/rotations of each image (test-time augmentation)");
  cmd->add_option("--bootstrap", s.bootstrap, "resamples for the 95% confidence intervals")->capture_default_str()->check(CLI::Range(10, 100000));
  cmd->add_option("--threads", s.threads, "LibTorch and decoding threads (0: all cores)")->capture_default_str()
      ->check(CLI::NonNegativeNumber);
}

}  // namespace cellcam::cli
