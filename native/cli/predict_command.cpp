// predict_command.cpp — every PredictSettings field as an option, its default shown by --help.
#include "predict_command.h"

#include <CLI/CLI.hpp>

#include "tile_options.h"

namespace cellcam::cli {

void add_predict_command(CLI::App& app, train::PredictSettings& s) {
  CLI::App* cmd = app.add_subcommand("predict", "classify images with a trained run: one CSV row per image");
  cmd->add_option("run", s.run, "run folder written by `cellcam train`")->required();
  cmd->add_option("images", s.inputs, "image files or folders (searched recursively)")->required();
  cmd->add_option("--out", s.out, "CSV to write: file,p_<class>...,predicted,review,error,tiles")->capture_default_str();
  cmd->add_option("--checkpoint", s.checkpoint, "best | last | path to a checkpoint .pt")->capture_default_str();
  cmd->add_flag("--kaggle", s.kaggle, "write a Kaggle submission instead: id,label (id: file name without extension, "
                                      "label: probability of the second class); failed images are left out");
  cmd->add_option("--batch-size", s.batch_size, "")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_flag("--tta", s.tta, "average the 8 flips/rotations of each image (test-time augmentation)");
  cmd->add_option("--tile", s.tile, "tile side in pixels for large images (0: the model's, as the page)")
      ->capture_default_str()->check(tile_side());
  cmd->add_option("--stride", s.stride, "tile stride (0: the tile)")->capture_default_str()->check(CLI::Range(0, kMaxTile));
  cmd->add_option("--tile-above", s.tile_above, "tile images with a side longer than this (-1: the model's, 0: never)")
      ->capture_default_str()->check(CLI::Range(-1, kMaxTileAbove));
  cmd->add_option("--max-tiles", s.max_tiles, "refuse an image that would make more tiles (0: 4096)")
      ->capture_default_str()->check(CLI::Range(0, 1000000));
  cmd->add_option("--threads", s.threads, "LibTorch and decoding threads (0: all cores)")->capture_default_str()
      ->check(CLI::NonNegativeNumber);
}

}  // namespace cellcam::cli
