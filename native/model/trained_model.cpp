// trained_model.cpp — see trained_model.h.
#include "trained_model.h"

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <onnx/onnx_pb.h>

#include "calibration.h"
#include "checkpoint.h"
#include "file_io.h"
#include "sha256.h"
#include "cellcam/version.h"

namespace cellcam::train {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

Result<json> read_json(const fs::path& path) { return native::read_json_object(path.string()); }

// An error of the card (its messages start "model.json: ") as of the file at `path`.
Error at_path(const Error& e, const fs::path& path) {
  const std::string prefix = "model.json: ";
  const bool prefixed = e.message.compare(0, prefix.size(), prefix) == 0;
  return make_error(e.code, path.string() + ": " + (prefixed ? e.message.substr(prefix.size()) : e.message));
}

// model.json through the one reader (cellcam/model_card.h); its messages name the file.
Result<ModelCard> read_card(const fs::path& path) {
  Result<std::string> text = native::read_text(path.string());
  if (!text) return text.error();
  Result<ModelCard> card = parse_model_card(text.value());
  if (!card) return at_path(card.error(), path);
  return card;
}

// An ONNX input's or output's dims as the graph declares them (-1 for a symbolic one), empty when absent.
std::vector<long long> dims_of(const google::protobuf::RepeatedPtrField<onnx::ValueInfoProto>& values, const std::string& name) {
  std::vector<long long> dims;
  for (const onnx::ValueInfoProto& v : values) {
    if (v.name() != name) continue;
    for (const onnx::TensorShapeProto_Dimension& d : v.type().tensor_type().shape().dim())
      dims.push_back(d.has_dim_value() ? d.dim_value() : -1);
  }
  return dims;
}
std::vector<long long> input_dims(const onnx::ModelProto& m, const std::string& name) { return dims_of(m.graph().input(), name); }
std::vector<long long> output_dims(const onnx::ModelProto& m, const std::string& name) { return dims_of(m.graph().output(), name); }

// The folder's ONNX file is the one model.json names (SHA-256) and gives the classes model.json lists, as
// the page checks before it runs a model: a swapped or damaged file is refused, not run.
Result<bool> check_onnx_file(const std::string& folder, const ModelCard& card) {
  const fs::path path = fs::path(folder) / card.onnx.file;
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return true;  // the native commands run weights.pt; the page needs the file
  Result<std::vector<std::uint8_t>> bytes = native::read_file(path.string());
  if (!bytes) return bytes.error();
  const std::string data(bytes.value().begin(), bytes.value().end());
  const std::string digest = native::sha256_hex(data);
  if (digest != card.onnx.sha256)
    return make_error(ErrorCode::kCorrupt, path.string() + " does not match model.json: its SHA-256 is " + digest.substr(0, 16) +
                                               "..., model.json says " + card.onnx.sha256.substr(0, 16) + "... (refused)");
  onnx::ModelProto model;
  if (!model.ParseFromString(data)) return make_error(ErrorCode::kCorrupt, path.string() + " is not an ONNX model");
  Result<bool> fits = check_onnx_outputs(card, input_dims(model, "input"), output_dims(model, "probs"), card.cam.present() ? output_dims(model, "cam") : std::vector<long long>{});
  if (!fits) return at_path(fits.error(), fs::path(folder) / "model.json");
  Result<bool> ood = check_onnx_ood_output(card, output_dims(model, "ood"));
  if (!ood) return at_path(ood.error(), fs::path(folder) / "model.json");
  return true;
}

// A float32 initialiser's values (raw_data or float_data) and dims; false when there is none of that name.
bool initializer(const onnx::ModelProto& m, const std::string& name, std::vector<float>& values, std::vector<long long>& dims) {
  for (const onnx::TensorProto& t : m.graph().initializer()) {
    if (t.name() != name || t.data_type() != onnx::TensorProto::FLOAT) continue;
    dims.assign(t.dims().begin(), t.dims().end());
    if (t.has_raw_data()) {
      values.resize(t.raw_data().size() / sizeof(float));
      std::memcpy(values.data(), t.raw_data().data(), values.size() * sizeof(float));
    } else {
      values.assign(t.float_data().begin(), t.float_data().end());
    }
    return true;
  }
  return false;
}

// The folder's weights.pt is the one model.json names: export records its SHA-256, and a flipped byte
// or a file from another export is refused before LibTorch reads it.
Result<bool> check_weights_file(const std::string& folder, const ModelCard& card) {
  const fs::path path = fs::path(folder) / card.weights.file;
  std::error_code ec;
  if (!fs::is_regular_file(path, ec))
    return make_error(ErrorCode::kIo, folder + " has model.json but no " + card.weights.file + " (the native commands need the "
                                               "LibTorch weights that `cellcam export` writes beside model.onnx)");
  if (card.weights.sha256.empty())
    return make_error(ErrorCode::kInvalidSpec, (fs::path(folder) / "model.json").string() +
                                                   ": no \"weights\" SHA-256 (exported by an older cellcam): export the run again");
  Result<std::vector<std::uint8_t>> bytes = native::read_file(path.string());
  if (!bytes) return bytes.error();
  const std::string digest = native::sha256_hex(std::string(bytes.value().begin(), bytes.value().end()));
  if (digest != card.weights.sha256)
    return make_error(ErrorCode::kCorrupt, path.string() + " does not match model.json: its SHA-256 is " + digest.substr(0, 16) +
                                               "..., model.json says " + card.weights.sha256.substr(0, 16) + "... (refused)");
  return true;
}

}  // namespace

Result<OodStats> read_ood_stats(const std::string& onnx_bytes) {
  onnx::ModelProto model;
  if (!model.ParseFromString(onnx_bytes)) return make_error(ErrorCode::kCorrupt, "not an ONNX model");
  std::vector<float> w, c;
  std::vector<long long> wd, cd;
  if (!initializer(model, "ood.whiten", w, wd) || !initializer(model, "ood.centres", c, cd) || wd.size() != 2 || cd.size() != 2 ||
      wd[0] != wd[1] || cd[1] != wd[0] || w.size() != static_cast<std::size_t>(wd[0] * wd[1]) ||
      c.size() != static_cast<std::size_t>(cd[0] * cd[1]))
    return make_error(ErrorCode::kInvalidSpec, "no out-of-distribution statistics (initialisers ood.whiten (F,F) and ood.centres (C,F))");
  OodStats s;
  s.features = static_cast<int>(wd[0]);
  s.classes = static_cast<int>(cd[0]);
  s.whiten = std::move(w);
  s.centres = std::move(c);
  return s;
}

namespace {

// An exported folder: model.json's card (operating point, CAM layer, metrics) and its layer table.
Result<LoadedRun> load_model_folder(const std::string& folder) {
  LoadedRun r;
  r.folder = folder;
  r.exported = true;
  const fs::path json_path = fs::path(folder) / "model.json";
  Result<ModelCard> card = read_card(json_path);
  if (!card) return card.error();
  r.card = card.take();
  Result<bool> onnx = check_onnx_file(folder, r.card);
  if (!onnx) return onnx.error();
  if (!r.card.has_architecture)
    return make_error(ErrorCode::kInvalidSpec, json_path.string() + ": no \"architecture\" block (the native commands "
                                                                    "build the network from it)");
  r.spec = r.card.architecture;
  r.threshold = r.card.threshold;
  r.threshold_source = r.card.threshold_source;
  r.temperature = r.card.temperature;  // model.json's threshold is already at this temperature
  if (r.card.has_review_band) {
    r.review_band = {r.card.review_lo, r.card.review_hi};
    r.review_band_source = r.card.review_band_source;
  }
  r.cam_layer = r.card.cam.layer;
  const json extra = json::parse(r.card.extra_json);
  r.report = extra.value("metrics", json());
  r.checkpoint_path = (fs::path(folder) / r.card.weights.file).string();
  Result<bool> weights = check_weights_file(folder, r.card);
  if (!weights) return weights.error();
  if (r.card.ood.present) {  // the statistics the graph scores with, for the native commands to score alike
    Result<std::string> onnx_bytes = native::read_text((fs::path(folder) / r.card.onnx.file).string());
    if (!onnx_bytes) return onnx_bytes.error();
    Result<OodStats> stats = read_ood_stats(onnx_bytes.value());
    if (!stats) return make_error(stats.error().code, (fs::path(folder) / r.card.onnx.file).string() + ": " + stats.error().message +
                                                          ", but model.json has an \"ood\" block");
    r.ood = stats.take();
  }
  r.net = native::Network(r.spec);
  Result<bool> loaded = load_weights(r.checkpoint_path, r.net);
  if (!loaded) return loaded.error();
  return r;
}

// A run folder's card, before export: the run's spec and operating point (no ONNX file yet).
ModelCard card_of_run(const LoadedRun& r) {
  ModelCard card;
  card.name = r.spec.name.empty() ? fs::path(r.folder).filename().string() : r.spec.name;
  card.version = r.spec.version;
  card.classes = card.display_names = r.spec.classes;
  card.head = r.spec.head;
  card.preprocess = r.spec.preprocess;
  card.threshold = r.threshold;
  card.threshold_source = r.threshold_source;
  card.temperature = r.temperature;
  if (r.review_band.size() == 2) {
    card.has_review_band = true;
    card.review_lo = r.review_band[0];
    card.review_hi = r.review_band[1];
    card.review_band_source = r.review_band_source;
  }
  card.has_architecture = true;
  card.architecture = r.spec;
  json extra = json::object();
  extra["architecture"] = json::parse(model_spec_to_json(r.spec)).value("architecture", json::object());
  card.extra_json = extra.dump();
  return card;
}

// config.json: the run's settings and model spec.
Result<bool> read_run_config(const std::string& run, LoadedRun& r) {
  r.folder = run;
  const fs::path config_path = fs::path(run) / "config.json";
  Result<json> config = read_json(config_path);
  if (!config) return make_error(ErrorCode::kIo, run + " is not a run folder (" + config.error().message + ")");
  if (!config.value().contains("model"))
    return make_error(ErrorCode::kCorrupt, config_path.string() + " is damaged (no \"model\")");
  r.settings = config.value().value("settings", json::object());
  if (!r.settings.is_object()) r.settings = json::object();
  Result<ModelSpec> spec = parse_model_spec(config.value()["model"].dump());
  if (!spec) return make_error(spec.error().code, config_path.string() + ": " + spec.error().message);
  r.spec = spec.take();
  return true;
}

// report.json and calibration.json: the operating point (threshold, temperature, review band) of the
// checkpoint asked for; calibration applies to the best one only.
void read_operating_point(const std::string& run, const std::string& checkpoint, LoadedRun& r, bool quiet = false) {
  // The trainer's operating point; without report.json (a run stopped early) the neutral 0.5.
  Result<json> report = read_json(fs::path(run) / "report.json");
  if (report) r.report = report.take();
  if (r.spec.head == HeadKind::kBinary) {
    if (r.report.is_object() && r.report.contains("threshold") && r.report["threshold"].is_object() &&
        r.report["threshold"].contains("value") && r.report["threshold"]["value"].is_number()) {
      r.threshold = r.report["threshold"]["value"].get<double>();
      r.threshold_source = "report.json";
    }
    if (r.threshold_source == "default" && !quiet)
      std::fprintf(stderr, "cellcam: %s/report.json gives no threshold; using 0.5\n", run.c_str());
  }
  // Temperature scaling fitted by `cellcam calibrate` on the best checkpoint's validation predictions.
  Result<json> calibration = read_json(fs::path(run) / "calibration.json");
  if (calibration && checkpoint == "best" && calibration.value().value("temperature", 0.0) > 0) {
    r.temperature = calibration.value()["temperature"].get<double>();
    // calibrate's moved threshold when it was moved from this one (it keeps every validation decision).
    const json& moved = calibration.value().value("threshold", json::object());
    const bool same_origin = moved.contains("at_temperature_1") && moved["at_temperature_1"].is_number() &&
                             moved["at_temperature_1"].get<double>() == r.threshold && moved.contains("at_temperature") &&
                             moved["at_temperature"].is_number();
    r.threshold = same_origin ? moved["at_temperature"].get<double>() : threshold_at(r.threshold, r.temperature);
    if (r.threshold_source == "report.json") r.threshold_source = "report.json, moved to calibration.json's temperature";
    const json& band = calibration.value().value("review_band", json::object());
    if (band.contains("band") && band["band"].is_array() && band["band"].size() == 2) {
      r.review_band = band["band"].get<std::vector<double>>();
      char source[160];
      std::snprintf(source, sizeof source, "chosen on validation: %.1f%% accuracy on the rest, referring at most %.0f%%",
                    100 * band.value("target_accuracy", 0.0), 100 * band.value("max_referral", 0.0));
      r.review_band_source = source;
    }
  }
}

Result<LoadedRun> load_run_folder(const std::string& run, const std::string& checkpoint) {
  LoadedRun r;
  Result<bool> config = read_run_config(run, r);
  if (!config) return config.error();

  r.checkpoint_path = checkpoint == "best" || checkpoint == "last"
                          ? (fs::path(run) / "checkpoints" / (checkpoint + ".pt")).string()
                          : checkpoint;
  std::error_code ec;
  if (!fs::is_regular_file(r.checkpoint_path, ec))
    return make_error(ErrorCode::kIo, "no checkpoint " + r.checkpoint_path +
                                          (checkpoint == "best" ? " (has the run finished an epoch? try --checkpoint last)" : ""));
  // Built on the CPU and moved only after loading, so the weights end on this machine's device
  // whichever device the checkpoint was written from.
  r.net = native::Network(r.spec);
  Result<json> state = load_checkpoint(r.checkpoint_path, r.net, nullptr);
  if (!state) return state.error();
  r.checkpoint_epoch = state.value().value("epoch", 0);

  read_operating_point(run, checkpoint, r);
  r.card = card_of_run(r);
  return r;
}

}  // namespace

Result<LoadedRun> load_run(const std::string& folder, const std::string& checkpoint) {
  if (folder.empty()) return make_error(ErrorCode::kInvalidArgument, "give a run folder (`cellcam train`) or a model folder (`cellcam export`)");
  std::error_code ec;
  const bool model_folder = fs::is_regular_file(fs::path(folder) / "model.json", ec) &&
                            !fs::is_regular_file(fs::path(folder) / "config.json", ec);
  Result<LoadedRun> r = model_folder ? load_model_folder(folder) : load_run_folder(folder, checkpoint);
  if (!r) return r;
  LoadedRun& loaded = r.value();
  const std::string device = loaded.settings.value("device", "auto");
  if (device != "cpu" && torch::cuda::is_available()) loaded.device = torch::Device(torch::kCUDA);
  loaded.net->to(loaded.device);
  loaded.net->eval();
  return r;
}

Result<bool> write_run_card(const std::string& run) {
  LoadedRun r;
  Result<bool> config = read_run_config(run, r);
  if (!config) return config;
  read_operating_point(run, "best", r, /*quiet=*/true);
  ModelCard card = card_of_run(r);
  card.cellcam_version = version_string();
  Result<std::string> split = native::read_text((fs::path(run) / "split.csv").string());
  if (split) card.data_list_sha256 = native::sha256_hex(split.value());
  return native::write_text_atomically((fs::path(run) / "model.json").string(), model_card_to_json(card));
}

bool is_ensemble_folder(const std::string& folder) {
  std::error_code ec;
  if (!fs::is_regular_file(fs::path(folder) / "model.json", ec)) return false;
  Result<ModelCard> card = read_card(fs::path(folder) / "model.json");
  return card && card.value().is_ensemble;
}

Result<LoadedEnsemble> load_ensemble(const std::string& folder) {
  Result<ModelCard> read = read_card(fs::path(folder) / "model.json");
  if (!read) return read.error();
  LoadedEnsemble e;
  e.card = read.take();
  if (!e.card.is_ensemble) return make_error(ErrorCode::kInvalidArgument, folder + "/model.json describes one model, not an ensemble");
  e.method = e.card.ensemble.method == CombineMethod::kSoft ? "soft" : "stacking";
  e.classes = e.card.classes;
  e.binary = e.card.binary();
  e.threshold = e.card.threshold;
  for (const EnsembleMember& m : e.card.ensemble.members) {
    // The member's folder: where its ONNX file lies (members/<i>/model.onnx).
    const fs::path member = fs::path(folder) / fs::path(m.onnx.file).parent_path();
    Result<LoadedRun> r = load_run(member.string());
    if (!r) return make_error(r.error().code, "ensemble member " + member.string() + ": " + r.error().message);
    if (r.value().spec.classes != e.classes)
      return make_error(ErrorCode::kInvalidArgument, "ensemble member " + member.string() + " has other classes than " + folder);
    e.members.push_back(r.take());
    e.weights.push_back(m.weight);
  }
  if (e.card.ensemble.method == CombineMethod::kStacking) {
    e.stacking.binary = e.binary;
    e.stacking.members = static_cast<int>(e.members.size());
    e.stacking.classes = static_cast<int>(e.classes.size());
    e.stacking.weights = e.card.ensemble.stacking.weights;
    e.stacking.intercepts = e.card.ensemble.stacking.intercepts;
  }
  return e;
}

}  // namespace cellcam::train
