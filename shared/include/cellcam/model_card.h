// model_card.h — model.json, the one description of a trained model: its one reader and its one writer.
//
// A model folder (`cellcam export`) or an ensemble folder (`cellcam ensemble`) holds model.json beside its
// ONNX file(s); the page, `cellcam predict`/`gradcam`/`eval` and the site builder all read it through
// parse_model_card(), and every writer goes through model_card_to_json(). The schema is versioned:
//
//   {"schema_version": 1,                                   // kModelCardSchema; anything else is refused
//    "name": "malaria", "version": "0.4.0",
//    "classes": ["Uninfected", "Parasitized"],              // the order of the model's outputs
//    "display_names": ["uninfected", "parasitized"],        // optional; what a person is shown
//    "head": "binary" | "multiclass",                       // binary: classes[1] is the positive class
//    "preprocess": {...},                                   // spec.h, required
//    "threshold": 0.44,  "threshold_source": "...",         // binary: predicted = classes[1] iff P >= threshold
//    "review_band": [lo, hi], "review_band_source": "...",  // optional: decision.h has the default
//    "temperature": 1.43,                                   // already applied inside model.onnx's probs
//    "cam": {"width": 8, "height": 8, "layer": "...", "method": "gradcam"},      // optional
//    "tiling": {"tile": 512, "stride": 512, "above": 1024}, // optional: the default tile plan (tiles.h)
//    "tta": {"default": false, "note": "..."},
//    "onnx": {"file": "model.onnx", "sha256": "<64 hex>", "bytes": 471805},      // one model, or
//    "weights": {"file": "weights.pt", "sha256": "<64 hex>", "bytes": 1200000},  // the native commands' copy
//    "ensemble": {"method": "soft"|"stacking", "members": [{"name", "weight", "temperature", "cam",
//                 "onnx": {...}}], "stacking": {"weights": [[..]], "intercepts": [..], "clamp": 1e-6},
//                 "review": {"score": "disagreement", "cutoff": 0.2}},
//    "provenance": {"cellcam_version": "0.5.0", "git_commit": "...", "data_list_sha256": "..."},
//    "ood": {"score": "mahalanobis", "layer": "features.18", "features": 128, "threshold": 310.2,
//            "pass_rate": 0.95, "threshold_source": "...", ...},     // optional: model.onnx's "ood" output
//                                                           // (ood.h); an ensemble member has its own too
//    ... any other key (architecture, metrics, input, outputs, source, ...) is kept as it is}
//
// Strict: a missing or mistyped field is a kInvalidSpec error naming it; so is a path that is absolute or
// climbs out of the folder ("..") — model.json travels with its folder and must mean the same anywhere.
#pragma once

#include <string>
#include <vector>

#include "cellcam/error.h"
#include "cellcam/model_spec.h"
#include "cellcam/spec.h"

namespace cellcam {

constexpr int kModelCardSchema = 1;

struct OnnxFile {
  std::string file = "model.onnx";  // relative to the model.json's folder
  std::string sha256;               // lower-case hex; empty in a run folder before export
  long long bytes = 0;
  std::string extra_json = "{}";    // other keys (opset, nodes), verbatim
};

// The LibTorch weights beside the ONNX file (`cellcam predict|eval|gradcam MODEL_DIR` run them): export
// records their SHA-256 so a damaged or swapped file is refused, as a damaged model.onnx is.
struct WeightsFile {
  std::string file = "weights.pt";  // relative to the model.json's folder
  std::string sha256;               // lower-case hex; empty: not recorded
  long long bytes = 0;
};

struct CamInfo {
  int width = 0;   // 0: the model has no Grad-CAM output
  int height = 0;
  std::string layer;
  std::string method = "gradcam";
  bool present() const { return width > 0 && height > 0; }
};

struct TilingDefaults {
  int tile = 0;    // 0: none given (the tool's own defaults apply)
  int stride = 0;
  int above = 0;
};

// The out-of-distribution score (cellcam/ood.h): model.onnx's "ood" output (N), larger = less like the
// training images; an image is flagged "not the kind of image this model was trained on" when its score
// exceeds `threshold`, chosen on the validation split so that `pass_rate` of those images pass.
// An ensemble's score is the weighted mean of its members' scores, each divided by its own threshold.
struct OodInfo {
  bool present = false;
  std::string score = "mahalanobis";  // what the output computes, in words a card can cite
  std::string layer;                   // the features it is computed from (a top-level layer name)
  int features = 0;                    // their count
  double threshold = 0.0;
  double pass_rate = 0.95;
  std::string threshold_source;
  std::string extra_json = "{}";       // other keys (the measured figures), verbatim
};

struct EnsembleMember {
  std::string name;
  OnnxFile onnx;
  double weight = 1.0;
  double temperature = 1.0;
  CamInfo cam;
  std::string extra_json = "{}";  // other keys (version, architecture, metrics, ...), verbatim
  OodInfo ood;                    // the member's own score and threshold (the ensemble divides by it)
};

enum class CombineMethod { kSoft, kStacking };

// The logistic meta-model of `cellcam ensemble --method stacking`: features are each member's logit of
// P(positive) (binary) or log-probabilities (multiclass), clamped to [clamp, 1 - clamp] first.
struct StackingWeights {
  std::vector<std::vector<double>> weights;  // (outputs, features)
  std::vector<double> intercepts;            // (outputs)
  double clamp = 1e-6;
};

struct EnsembleInfo {
  CombineMethod method = CombineMethod::kSoft;
  std::vector<EnsembleMember> members;  // at least 2
  StackingWeights stacking;             // method == kStacking
  bool review_on_disagreement = false;  // "review": {"score": "disagreement", "cutoff": c}
  double disagreement_cutoff = 0.0;
  std::string review_json = "null";  // the "review" block as written (its rule in words, cutoffs)
  std::string extra_json = "{}";     // other keys of the block ("cam" in words, ...), verbatim
};

struct ModelCard {
  int schema_version = kModelCardSchema;
  std::string name = "model";
  std::string version;
  std::vector<std::string> classes;
  std::vector<std::string> display_names;  // same length as classes (filled from classes when absent)
  HeadKind head = HeadKind::kBinary;
  PreprocessSpec preprocess;
  double threshold = 0.5;
  std::string threshold_source = "default 0.5";
  bool has_review_band = false;
  double review_lo = 0.0;
  double review_hi = 1.0;
  std::string review_band_source;
  double temperature = 1.0;
  CamInfo cam;                 // an ensemble: its first member's
  TilingDefaults tiling;
  bool tta_default = false;
  std::string tta_note;
  OnnxFile onnx;               // one model (empty sha256 in a run folder not yet exported)
  WeightsFile weights;         // one model folder's weights.pt (empty sha256 when not recorded)
  bool is_ensemble = false;
  EnsembleInfo ensemble;
  std::string cellcam_version;
  std::string git_commit;
  std::string data_list_sha256;
  OodInfo ood;                    // absent (present = false) in a model exported before it
  std::string extra_json = "{}";  // every other key, verbatim (a JSON object)
  // The layer table (model_spec.h), when model.json has an "architecture" block: what the native commands
  // build the network from. Written back from extra_json, where the block is kept verbatim.
  bool has_architecture = false;
  ModelSpec architecture;

  int class_count() const { return static_cast<int>(classes.size()); }
  bool binary() const { return head == HeadKind::kBinary; }
  // The ONNX files this model runs, in member order (one for a single model).
  std::vector<OnnxFile> onnx_files() const;
};

// text -> a checked card. require_onnx: a model folder's card must name its ONNX file and SHA-256 (a run
// folder's need not, until export).
Result<ModelCard> parse_model_card(const std::string& json_text, bool require_onnx = true);
// Canonical JSON (2-space indented, keys sorted), schema_version first in meaning, parseable again.
std::string model_card_to_json(const ModelCard& card);

// The model's ONNX graph against the card: `input` (N, C, H, W) of the preprocess block's shape (when the
// graph declares it), `probs` (N, classes) and `cam`, when given, (N, classes, h, w); dims as the runtime
// reports them (-1 for a symbolic one). The page and the CLI both refuse a mismatched pair with this.
Result<bool> check_onnx_outputs(const ModelCard& card, const std::vector<long long>& input_dims,
                                const std::vector<long long>& probs_dims, const std::vector<long long>& cam_dims);
// A card with an "ood" block needs the graph's "ood" output, (N): ood_dims as above, empty when the graph
// has no such output. A card without one accepts any graph.
Result<bool> check_onnx_ood_output(const ModelCard& card, const std::vector<long long>& ood_dims);

// The metadata_props `cellcam export` writes into model.onnx: cellcam.classes (JSON array),
// cellcam.display_names, cellcam.head, cellcam.preprocess (spec.h JSON), cellcam.model_version,
// cellcam.version. Pairs of (key, value).
std::vector<std::pair<std::string, std::string>> onnx_metadata(const ModelCard& card);

}  // namespace cellcam
