// gradcam_images.h — `cellcam gradcam RUN|MODEL_DIR IMAGES... --out DIR`: per image, the Grad-CAM
// (LibTorch autograd, gradcam.h) drawn by the shared renderer (cellcam/cam.h) — the same pixels the page
// draws from the ONNX model's `cam` output.
//
//   OUT/<name>.<class>.heatmap.png   the map on the original image size, colormapped
//   OUT/<name>.<class>.overlay.png   the map blended over the image
//   OUT/<name>.<class>.stitched.npy  a large image (tiled with the page's plan): the map stitched from its tiles,
//                                    scaled as drawn, (h,w) float32 over the whole image
//   OUT/gradcam.csv                  file, probabilities, predicted class, explained class, outputs, error
// An ensemble folder (`cellcam ensemble`) is explained as the page explains it: every member's maps, combined
// by the shared rules (cellcam/ensemble.h: each scaled to a maximum of 1, resampled to the finest grid, weighted).
// An unreadable image gets its error row; the rest go on (exit 2 when any failed).
#pragma once

#include <string>
#include <vector>

namespace cellcam::explain {

struct GradcamSettings {
  std::string model;                // run folder, exported model folder or ensemble folder
  std::vector<std::string> inputs;  // files, or folders searched recursively
  std::string out = "gradcam";
  std::string checkpoint = "best";  // run folders: best | last | path
  std::string cam_layer;            // empty: the model folder's, else the last convolutional block
  std::string target = "predicted"; // predicted | all | a class name
  std::string method = "gradcam";   // gradcam | hirescam
  std::string colormap = "jet";     // jet | viridis
  std::string scale = "relative";   // relative | absolute (cellcam/cam.h scale_cam: P(class) x map / max)
  float alpha = 0.5f;               // overlay opacity of the heatmap
  bool tta = false;                 // average the 8 flips/rotations (maps carried back before averaging)
  int tile_above = -1;              // tile images with a longer side (-1: the model's, 0: never), as predict
  int batch_size = 16;
  int threads = 0;
};

int run_gradcam(const GradcamSettings& settings);

}  // namespace cellcam::explain
