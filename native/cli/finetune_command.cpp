// finetune_command.cpp — `cellcam finetune`: the base model and data, the original data for the
// before/after table and --mix, then train's own options with fine-tuning's defaults (shown by --help).
#include "finetune_command.h"

#include <CLI/CLI.hpp>

#include "train_command.h"

namespace cellcam::cli {

void add_finetune_command(CLI::App& app, train::FinetuneSettings& s) {
  s.train = train::finetune_defaults();
  CLI::App* cmd = app.add_subcommand(
      "finetune",
      "continue a trained model on reviewed images (the page's reviewed-set ZIP, its folder, or any dataset) with a low learning "
      "rate, and report before/after on the original test split and on a held-out part of the reviewed set");
  cmd->add_option("model", s.model, "exported model folder (model.json + weights.pt) or run folder to start from");
  cmd->add_option("data", s.train.data, "reviewed-set .zip (exported by the page), its unpacked folder, or any dataset train reads; "
                                        "its classes must be among the model's");
  cmd->add_option("--out", s.train.out, "run folder (exports with `cellcam export` as any run)")->capture_default_str();
  cmd->add_flag("--force", s.train.force, "--out names an existing run: delete it and start over");
  cmd->add_option("--original", s.original,
                  "the base model's own training data: its test split is scored before and after (a run folder's own data "
                  "and split.csv by default; an exported model keeps none)");
  cmd->add_option("--original-split", s.original_split,
                  "split.csv of --original (`cellcam split`); default: the run's split.csv, else the split `cellcam train` "
                  "made, reproduced with --original-seed");
  cmd->add_option("--original-seed", s.original_seed, "seed of the original training's split")->capture_default_str();
  cmd->add_option("--mix", s.mix, "also train on images of this data (the original's): only its training part, never its "
                                  "validation or test images")->check(CLI::ExistingPath);
  cmd->add_option("--mix-ratio", s.mix_ratio, "original training images mixed in per reviewed image (capped at what there is)")
      ->capture_default_str()
      ->check(CLI::Range(1e-6, 1000.0));
  cmd->add_flag("--rethreshold", s.rethreshold,
                "binary: choose the operating threshold on the reviewed set's validation part (default: keep the base model's; a "
                "handful of validation images gives a fragile threshold)");
  cmd->add_option("--max-drop", s.max_drop,
                  "a fall of the original test accuracy by more than this (0.02 = 2 points) is warned about, and `cellcam export` "
                  "then refuses the run without --accept-drop")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  add_training_options(cmd, s.train);
  add_range_checks(cmd);
}

}  // namespace cellcam::cli
