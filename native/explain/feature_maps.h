// feature_maps.h — `cellcam features RUN|MODEL_DIR IMAGE`: inside the network, for one image.
//
//   OUT/input.png      the preprocessed input as the network sees it (preprocess.h tensor_preview), enlarged
//   OUT/filters.png    the first convolution's weights (out,in,k,k), one k x k tile per filter, each filter
//                      min-max scaled on its own, enlarged by nearest neighbour (features_grid.h)
//   OUT/<layer>.png    per requested top-level layer, its activation (C,h,w): one tile per channel (the first
//                      --max-channels), all on one colour scale per layer (0..max, or min..max with negatives)
//   OUT/report.md      model, image, probabilities, and per layer: shape, value range, dead channels, picture
// Layers are the network's top-level feature layers ("features.N") with a (C,H,W) output; by default those
// that end a convolutional block: every ReLU / leaky ReLU and every residual block (its output is a ReLU).
// The image goes through the model's own preprocessing (cellcam/preprocess.h), as at inference.
// Run folders (`cellcam train`) and model folders (`cellcam export`, weights.pt) both work.
#pragma once

#include <string>
#include <vector>

namespace cellcam::explain {

struct FeaturesSettings {
  std::string model;                // run folder or exported model folder
  std::string image;                // one image file
  std::string out = "features";
  std::vector<std::string> layers;  // empty: the default list (see above)
  bool list = false;                // print the layer table and exit
  int max_channels = 64;            // tiles per layer picture
  int tile_pixels = 48;             // activation tiles are enlarged to at least this many pixels a side
  int filter_scale = 8;             // filters: each weight this many pixels a side
  std::string colormap = "viridis"; // viridis | jet
  std::string checkpoint = "best";  // run folders: best | last | path
  int threads = 0;
};

int run_features(const FeaturesSettings& settings);

}  // namespace cellcam::explain
