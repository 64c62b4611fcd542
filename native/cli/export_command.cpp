// export_command.cpp — every ExportSettings field as an option, its default shown by --help.
#include "export_command.h"

#include <CLI/CLI.hpp>

namespace cellcam::cli {

void add_export_command(CLI::App& app, explain::ExportSettings& s) {
  CLI::App* cmd = app.add_subcommand("export", "write a trained run as a model folder: model.onnx (with Grad-CAM outputs), "
                                               "model.json, weights.pt, README.md");
  cmd->add_option("run", s.run, "run folder written by `cellcam train`")->required();
  cmd->add_option("--out", s.out, "model folder to write, e.g. models/malaria (new or empty; see --force)")->required();
  cmd->add_flag("--force", s.force, "replace an existing model folder, all of it (its README.md card and plots too)");
  cmd->add_option("--checkpoint", s.checkpoint, "best | last | path to a checkpoint .pt")->capture_default_str();
  cmd->add_option("--cam-layer", s.cam_layer, "Grad-CAM target layer, e.g. features.9 (default: the last convolutional block's output)");
  cmd->add_option("--name", s.name, "model name in model.json (default: the --out folder's name)");
  cmd->add_option("--version", s.version, "model version in model.json")->capture_default_str();
  cmd->add_flag("--tta-default", s.tta_default, "the page averages the 8 flips/rotations of each image unless the user switches "
                                                "it off (measure first: cellcam eval --tta --part val)");
  cmd->add_option("--tta-note", s.tta_note, "the measured effect of TTA, shown in the page (model.json tta.note)");
  cmd->add_flag("--ood", s.ood, "add the out-of-distribution score, fitted on the run's training split, threshold on its "
                                "validation split (as `cellcam ood MODEL --write`; OUT/ood.json has the figures)");
  cmd->add_flag("--accept-drop", s.accept_drop, "export a `cellcam finetune` run whose original test accuracy fell by more than "
                                                "its --max-drop (refused otherwise)");
  cmd->add_option("--quantize", s.quantize, "store model.onnx's weights as fp16 (half the size) or int8 (a quarter), weights.pt "
                                            "rounded to match; the accuracy change on validation and test goes into model.json and "
                                            "README.md")->capture_default_str()->check(CLI::IsMember({"none", "fp16", "int8"}));
  CLI::Option* data = cmd->add_option("--eval-data", s.eval_data, "with --quantize on a model folder: the dataset to measure the "
                                                                  "change on (a run folder uses its own)");
  CLI::Option* split = cmd->add_option("--eval-split", s.eval_split, "with --eval-data: the model's split file (cellcam split DATA "
                                                                     "--out split.csv); its val and test parts are scored");
  data->needs(split);
  split->needs(data);
  cmd->add_option("--ood-other", s.ood_others, "NAME=PATH: a dataset of another kind to measure --ood on (repeat)");
}

}  // namespace cellcam::cli
