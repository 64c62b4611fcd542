// preprocess_command.cpp — every PreprocessSettings field as an option, its default shown by --help.
#include "preprocess_command.h"

#include <CLI/CLI.hpp>

#include "tile_options.h"

namespace cellcam::cli {

void add_preprocess_command(CLI::App& app, native::PreprocessSettings& s) {
  CLI::App* cmd = app.add_subcommand("preprocess", "decode images and write the tensors a model's spec describes");
  cmd->add_option("images", s.inputs, "image files or folders (searched recursively)")->required();
  cmd->add_option("--spec", s.spec_path, "model.json, or a JSON file holding only the preprocess block")->required();
  cmd->add_option("--out", s.out_dir, "output folder (created if missing)")->required();
  cmd->add_option("--tile", s.tile, "also cut images larger than this many pixels a side into tiles (0: off)")
      ->capture_default_str()->check(tile_side());
  cmd->add_option("--stride", s.stride, "distance between tile origins (0: the tile size)")
      ->capture_default_str()->check(CLI::Range(0, kMaxTile));
  cmd->add_option("--max-tiles", s.max_tiles, "refuse an image that would make more tiles than this (as the page)")
      ->capture_default_str()->check(CLI::Range(1, 1000000));
  cmd->add_option("--max-side", s.max_side, "refuse images declaring a longer side than this")
      ->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--max-megapixels", s.max_megapixels, "refuse images declaring more megapixels than this")
      ->capture_default_str()->check(CLI::PositiveNumber);
}

}  // namespace cellcam::cli
