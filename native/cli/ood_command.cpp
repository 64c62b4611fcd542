// ood_command.cpp — every OodSettings field as an option, its default shown by --help.
#include "ood_command.h"

#include <CLI/CLI.hpp>

namespace cellcam::cli {

void add_ood_command(CLI::App& app, explain::OodSettings& s) {
  CLI::App* cmd = app.add_subcommand("ood", "measure out-of-distribution scores of a model on other kinds of images (fitted on "
                                            "its training split, threshold on validation); --write adds the selected one to "
                                            "the model folder");
  cmd->add_option("model", s.model, "exported model folder (or run folder)")->required();
  cmd->add_option("--data", s.data, "the model's dataset (a run folder: its own)");
  cmd->add_option("--split", s.split, "the model's split (`cellcam split DATA` writes it again; a run folder: its own)");
  cmd->add_option("--other", s.others, "NAME=PATH: a dataset of another kind (repeat), e.g. pcam=../shared/data/pcam");
  cmd->add_option("--out", s.out, "folder for ood.json")->capture_default_str();
  cmd->add_option("--pass-rate", s.pass_rate, "share of validation images the threshold lets pass")->capture_default_str()
      ->check(CLI::Range(0.5, 0.999));
  cmd->add_option("--per-set", s.per_set, "images per half of each other dataset and per corruption")->capture_default_str()
      ->check(CLI::Range(10, 100000));
  cmd->add_option("--batch-size", s.batch_size, "")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--threads", s.threads, "LibTorch threads (0: all cores)")->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_flag("--write", s.write, "add the selected Mahalanobis score to the model folder (model.onnx's \"ood\" output, "
                                    "model.json's \"ood\" block with the measured figures)");
}

}  // namespace cellcam::cli
