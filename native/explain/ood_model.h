// ood_model.h — `cellcam ood MODEL`: measures out-of-distribution scores of a model on images of other
// kinds, and (--write) adds the chosen one to the model folder as model.onnx's "ood" output.
//
//   fit        the class means and shared covariance of the features of the split's TRAINING part
//              (cellcam/ood.h), for each candidate: Mahalanobis on the head's input, Mahalanobis on the
//              last global-average-pool output (when that is another layer); beside them, from the
//              logits, the energy score and the maximum softmax probability, for comparison
//   threshold  on the VALIDATION part: the score that `--pass-rate` of its images stay at or under
//   select     the candidate with the highest mean AUROC over the SELECTION sets: validation images
//              against the other datasets' selection halves and corruptions of validation images
//   report     test images against the other datasets' report halves (images never used to select)
//              and corruptions of test images: AUROC and the share flagged at the threshold
// Nothing is chosen on a test part. Sets: each --other dataset (e.g. pcam=../shared/data/pcam), up to
// --per-set images for each half, drawn with a fixed seed; corruptions on the model's canvas (before
// stain normalisation, which the model applies anyway): Gaussian blur (sigma = 1/16 of the side),
// Gaussian noise (sd 0.2), wrong stain (RGB channels rotated), blank (the image's mean colour
// everywhere), and printed text (stb_easy_font, black on white).
// Writes OUT/ood.json (every figure) and, with --write, MODEL/model.onnx (the graph + the "ood" output)
// and MODEL/model.json (its new SHA-256 and the "ood" block with the measured figures).
// Exit codes: 0 done, 1 usage or setup error.
#pragma once

#include <string>
#include <vector>

#include "cellcam/error.h"
#include "cellcam/model_spec.h"
#include "cellcam/ood.h"

namespace cellcam::explain {

struct OodSettings {
  std::string model;                // exported model folder (or run folder: its own data and split)
  std::string data;                 // the model's dataset; with an exported folder, give --split too
  std::string split;                // the split it was trained on (`cellcam split` writes it again)
  std::vector<std::string> others;  // NAME=PATH: datasets of other kinds (any layout `cellcam train` reads)
  std::string out = "ood-report";   // folder for ood.json
  double pass_rate = 0.95;          // share of validation images the threshold lets pass
  int per_set = 400;                // images per half of each other dataset and per corruption
  int batch_size = 128;
  int threads = 0;
  bool write = false;               // add the selected Mahalanobis score to MODEL (model.onnx + model.json)
};

int run_ood(const OodSettings& settings);

// model.onnx's bytes with an "ood" output (N) added: the Mahalanobis score (cellcam/ood.h) of the tensor
// that top-level layer `layer` of `spec` outputs (the last layer: the head's input). Errors: the graph
// already has an "ood" output, or `layer` is not found in it.
Result<std::string> add_ood_output(const std::string& onnx_bytes, const ModelSpec& spec, const std::string& layer,
                                   const OodStats& stats);

}  // namespace cellcam::explain
