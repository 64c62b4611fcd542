// gradcam_command.cpp — every GradcamSettings field as an option, its default shown by --help.
#include "gradcam_command.h"

#include <CLI/CLI.hpp>

#include "cellcam/limits.h"

namespace cellcam::cli {

void add_gradcam_command(CLI::App& app, explain::GradcamSettings& s) {
  CLI::App* cmd = app.add_subcommand("gradcam", "Grad-CAM heatmaps and overlays (LibTorch autograd) for images");
  cmd->add_option("model", s.model, "run folder (`cellcam train`) or model folder (`cellcam export`)")->required();
  cmd->add_option("inputs", s.inputs, "image files or folders")->required();
  cmd->add_option("--out", s.out, "output folder")->capture_default_str();
  cmd->add_option("--checkpoint", s.checkpoint, "run folders: best | last | path")->capture_default_str();
  cmd->add_option("--cam-layer", s.cam_layer, "target layer, e.g. features.9 (default: the model folder's, else the last convolutional block)");
  cmd->add_option("--class", s.target, "predicted | all | a class name")->capture_default_str();
  cmd->add_option("--method", s.method, "gradcam | hirescam")->capture_default_str();
  cmd->add_option("--tile-above", s.tile_above, "large images: tile those with a side longer than this, as the page "
                                                 "does, and stitch one heatmap (-1: the model's default, 0: never)")
      ->capture_default_str()->check(CLI::Range(-1, kMaxTileAbove));
  cmd->add_flag("--tta", s.tta, "average the 8 flips/rotations of each image; each view's map is turned back before averaging");
  cmd->add_option("--colormap", s.colormap, "jet | viridis")->capture_default_str();
  cmd->add_option("--scale", s.scale, "relative: each map stretched to the full colour range (shows where, not how much); "
                                      "absolute: P(class) x map / its maximum, so a class the model rules out stays cold "
                                      "and a flat map stays flat (the page's 'absolute' scale)")
      ->capture_default_str()->check(CLI::IsMember({"relative", "absolute"}));
  cmd->add_option("--alpha", s.alpha, "heatmap opacity in the overlay")->capture_default_str()->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--batch-size", s.batch_size, "")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--threads", s.threads, "LibTorch threads (0: all cores)")->capture_default_str()->check(CLI::NonNegativeNumber);
}

}  // namespace cellcam::cli
