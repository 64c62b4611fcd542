// export_model.h — `cellcam export RUN --out models/<name>/`: a trained run as a self-contained model
// folder that the page and the native commands read.
//
//   model.onnx   the network + its Grad-CAM (export_onnx.h), checked and shape-inferred by libonnx
//   model.json   the model spec (classes, head, preprocess, layers) plus the operating threshold, the
//                CAM layer and output shapes, the ONNX file's SHA-256 and the run's held-out metrics
//   weights.pt   the LibTorch weights (for `cellcam predict|eval|gradcam MODEL_DIR`)
//   README.md    a model card drafted from the run's report (edit it by hand after export)
// --quantize fp16|int8 stores model.onnx's weights smaller (quantize.h) and rounds weights.pt to match
// (quantize_model.h); model.json's "quantization" block and the card say how and what it changed.
// A `cellcam finetune` run (RUN/finetune.json) also puts its base model, reviewed set and before/after table
// into model.json ("finetuned") and the README.
// The folder is written whole (OUT.partial, then renamed): an existing model folder is replaced only with
// --force, and then entirely. Exit codes: 0 done, 1 usage or setup error.
#pragma once

#include <string>
#include <vector>

namespace cellcam::explain {

struct ExportSettings {
  std::string run;                  // run folder written by `cellcam train`
  std::string out;                  // model folder to write (created)
  std::string checkpoint = "best";  // best | last | path
  std::string cam_layer;            // empty: the last convolutional block's output
  std::string name;                 // model name in model.json; empty: the out folder's name
  std::string version = "1.0.0";
  bool tta_default = false;         // model.json "tta.default": the page averages the 8 flips/rotations unless switched off
  std::string tta_note;             // model.json "tta.note": the measured effect, shown in the page
  bool force = false;               // replace an existing model folder (all of it)
  bool accept_drop = false;         // a `cellcam finetune` run marked "degraded" is refused without it
  // Add the out-of-distribution score (`cellcam ood --write` on the new folder, with the run's own data and
  // split, the corruptions as the only other images): model.onnx's "ood" output, model.json's "ood" block.
  bool ood = false;
  std::vector<std::string> ood_others;  // NAME=PATH: other datasets for `cellcam ood --other`
  // none | fp16 | int8: model.onnx's weights stored smaller (quantize.h), weights.pt rounded the same way,
  // and the accuracy change on the held-out parts measured into model.json's "quantization" and the card.
  std::string quantize = "none";
  std::string eval_data;   // a model folder's held-out images for that measurement: the dataset ...
  std::string eval_split;  // ... and its split file (`cellcam split`); a run folder uses its own
};

int run_export(const ExportSettings& settings);

// Lower-case hex SHA-256 of a byte string (OpenSSL).
std::string sha256_hex(const std::string& bytes);

}  // namespace cellcam::explain
