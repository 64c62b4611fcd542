// features_command.cpp — every FeaturesSettings field as an option, its default shown by --help.
#include "features_command.h"

#include <CLI/CLI.hpp>

namespace cellcam::cli {

void add_features_command(CLI::App& app, explain::FeaturesSettings& s) {
  CLI::App* cmd = app.add_subcommand("features", "the first convolution's filters and the feature maps of chosen layers for one image");
  cmd->add_option("model", s.model, "run folder (`cellcam train`) or model folder (`cellcam export`)")->required();
  cmd->add_option("image", s.image, "one image file (not needed with --list)");
  cmd->add_option("--out", s.out, "output folder (PNGs and report.md)")->capture_default_str();
  cmd->add_option("--layers", s.layers, "top-level layers to show, e.g. features.2,features.7 (default: every ReLU "
                                        "and residual block with a (C,H,W) output; --list shows them)")->delimiter(',');
  cmd->add_flag("--list", s.list, "print the layer table with output shapes and which layers can be shown, then exit");
  cmd->add_option("--max-channels", s.max_channels, "tiles per layer picture (the first channels)")->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--tile-pixels", s.tile_pixels, "feature-map tiles enlarged (nearest neighbour) to at least this size")
      ->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--filter-scale", s.filter_scale, "pixels per filter weight in filters.png")->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--colormap", s.colormap, "viridis | jet")->capture_default_str()->check(CLI::IsMember({"viridis", "jet"}));
  cmd->add_option("--checkpoint", s.checkpoint, "run folders: best | last | path")->capture_default_str();
  cmd->add_option("--threads", s.threads, "LibTorch threads (0: all cores)")->capture_default_str()->check(CLI::NonNegativeNumber);
}

}  // namespace cellcam::cli
