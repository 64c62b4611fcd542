// preprocess_files.h — `cellcam preprocess`: decode images, apply a model spec's preprocessing,
// write each tensor (.npy, float32 CHW) with a PNG preview, and a manifest.json of what happened.
// Exit codes as every subcommand: 0 done, 1 usage or setup error, 2 some inputs failed.
#pragma once

#include <string>
#include <vector>

#include "cellcam/image.h"
#include "cellcam/tiling.h"

namespace cellcam::native {

struct PreprocessSettings {
  std::vector<std::string> inputs;  // files, or folders searched recursively for image files
  std::string spec_path;            // model.json or a bare preprocess block
  std::string out_dir;
  int tile = 0;                     // > 0: also cut images larger than this into tiles
  int stride = 0;                   // 0: same as tile (no overlap)
  int max_tiles = kDefaultMaxTiles;  // an image that would make more tiles is refused (its own error row)
  long long max_side = DecodeLimits{}.max_side;  // the limits the page decodes under (shared/)
  long long max_megapixels = DecodeLimits{}.max_pixels / 1000000;
};

int run_preprocess(const PreprocessSettings& settings);

}  // namespace cellcam::native
