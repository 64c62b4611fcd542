// trained_model.h — a trained model, ready to run: from a run folder (`cellcam train`) or from an exported
// model folder (`cellcam export`: model.json + weights.pt beside model.onnx).
//
// Both give the model spec, the network in eval mode with its weights on this machine's device, and
// for binary heads the operating threshold chosen on validation. eval, predict, export and gradcam all
// start here, so they agree on which weights and which threshold a folder means.
// Includes LibTorch: only for translation units that already need it.
#pragma once

#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <string>

#include "cellcam/error.h"
#include "cellcam/model_card.h"
#include "cellcam/model_spec.h"
#include "cellcam/ood.h"
#include "ensemble.h"
#include "network.h"

namespace cellcam::train {

struct LoadedRun {
  std::string folder;
  bool exported = false;            // a model folder written by `cellcam export`, not a run folder
  nlohmann::json settings = nlohmann::json::object();  // the run's training settings (empty for a model folder)
  nlohmann::json report;            // the run's report.json, or model.json's "metrics" (may be null)
  ModelSpec spec;
  native::Network net{nullptr};
  torch::Device device{torch::kCPU};
  std::string checkpoint_path;
  int checkpoint_epoch = 0;
  double threshold = 0.5;           // on P(classes[1]) at `temperature`
  std::string threshold_source = "default";
  double temperature = 1.0;         // temperature scaling (`cellcam calibrate`; model.json "temperature")
  std::vector<double> review_band;  // {lo, hi} on the decision score, or empty (`cellcam calibrate`; model.json)
  std::string review_band_source;
  std::string cam_layer;            // model folders: the exported CAM target layer
  // What the folder means to the page: its model.json read by the shared model card (model folders), or
  // the card of the run's own settings (run folders, before export). predict and gradcam decide with it.
  ModelCard card;
  // The out-of-distribution statistics inside model.onnx (its "ood.whiten" and "ood.centres"
  // initialisers, cellcam/ood.h), when the card has an "ood" block; `cellcam predict` scores with them.
  OodStats ood;
};

// The OOD statistics held by an ONNX model's initialisers ("ood.whiten" (F,F), "ood.centres" (C,F)).
Result<OodStats> read_ood_stats(const std::string& onnx_bytes);

// `checkpoint` is best | last | a path (run folders only; a model folder has one set of weights).
Result<LoadedRun> load_run(const std::string& folder, const std::string& checkpoint = "best");

// RUN/model.json: the run's card (model_card.h, no ONNX file yet) with its operating point as it stands:
// written when training starts and again when it finishes and when `cellcam calibrate` moves the
// threshold, so a run folder always says in one file what `cellcam export` will ship.
Result<bool> write_run_card(const std::string& run);

// An ensemble folder written by `cellcam ensemble` (model.json with an "ensemble" block): each member is a
// model folder of its own under the ensemble's folder (members/<i>/: model.onnx, model.json, weights.pt),
// combined as model.json says. `cellcam predict ENSEMBLE` runs it natively as the page does.
struct LoadedEnsemble {
  std::vector<LoadedRun> members;
  std::string method = "soft";   // soft | stacking
  std::vector<double> weights;   // soft voting, one per member
  StackingModel stacking;        // method == "stacking"
  std::vector<std::string> classes;
  bool binary = true;
  double threshold = 0.5;        // on the combined P(classes[1])
  ModelCard card;                // the ensemble's model.json (members, method, weights, review rule)
};
bool is_ensemble_folder(const std::string& folder);
Result<LoadedEnsemble> load_ensemble(const std::string& folder);

}  // namespace cellcam::train
