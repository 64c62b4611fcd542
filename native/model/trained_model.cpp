// trained_model.cpp — see trained_model.h.
#include "trained_model.h"

#include <cstdio>
#include <filesystem>

#include "calibration.h"
#include "checkpoint.h"
#include "file_io.h"

namespace cellcam::train {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

Result<json> read_json(const fs::path& path) { return native::read_json_object(path.string()); }

// An exported folder: model.json is the spec plus the export's own fields (threshold, cam, metrics).
Result<LoadedRun> load_model_folder(const std::string& folder) {
  LoadedRun r;
  r.folder = folder;
  r.exported = true;
  const fs::path json_path = fs::path(folder) / "model.json";
  Result<json> model = read_json(json_path);
  if (!model) return model.error();
  Result<ModelSpec> spec = parse_model_spec(model.value().dump());
  if (!spec) return make_error(spec.error().code, json_path.string() + ": " + spec.error().message);
  r.spec = spec.take();
  const json& m = model.value();
  if (m.contains("threshold") && m["threshold"].is_number()) {
    r.threshold = m["threshold"].get<double>();
    r.threshold_source = "model.json";
  }
  if (m.contains("temperature") && m["temperature"].is_number() && m["temperature"].get<double>() > 0)
    r.temperature = m["temperature"].get<double>();  // model.json's threshold is already at this temperature
  if (m.contains("review_band") && m["review_band"].is_array() && m["review_band"].size() == 2) {
    r.review_band = m["review_band"].get<std::vector<double>>();
    r.review_band_source = m.value("review_band_source", std::string("model.json"));
  }
  if (m.contains("cam") && m["cam"].is_object()) r.cam_layer = m["cam"].value("layer", "");
  r.report = m.value("metrics", json());
  r.checkpoint_path = (fs::path(folder) / "weights.pt").string();
  std::error_code ec;
  if (!fs::is_regular_file(r.checkpoint_path, ec))
    return make_error(ErrorCode::kIo, folder + " has model.json but no weights.pt (the native commands need the "
                                               "LibTorch weights that `cellcam export` writes beside model.onnx)");
  r.net = native::Network(r.spec);
  Result<bool> loaded = load_weights(r.checkpoint_path, r.net);
  if (!loaded) return loaded.error();
  return r;
}

Result<LoadedRun> load_run_folder(const std::string& run, const std::string& checkpoint) {
  LoadedRun r;
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

  // The trainer's operating point; without report.json (a run stopped early) the neutral 0.5.
  Result<json> report = read_json(fs::path(run) / "report.json");
  if (report) r.report = report.take();
  if (r.spec.head == HeadKind::kBinary) {
    if (r.report.is_object() && r.report.contains("threshold") && r.report["threshold"].is_object() &&
        r.report["threshold"].contains("value") && r.report["threshold"]["value"].is_number()) {
      r.threshold = r.report["threshold"]["value"].get<double>();
      r.threshold_source = "report.json";
    }
    if (r.threshold_source == "default")
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

bool is_ensemble_folder(const std::string& folder) {
  std::error_code ec;
  if (!fs::is_regular_file(fs::path(folder) / "model.json", ec)) return false;
  Result<json> j = read_json(fs::path(folder) / "model.json");
  return j && j.value().contains("ensemble") && j.value()["ensemble"].is_object();
}

Result<LoadedEnsemble> load_ensemble(const std::string& folder) {
  Result<json> read = read_json(fs::path(folder) / "model.json");
  if (!read) return read.error();
  const json& j = read.value();
  LoadedEnsemble e;
  try {
    const json& block = j.at("ensemble");
    e.method = block.value("method", std::string("soft"));
    e.classes = j.at("classes").get<std::vector<std::string>>();
    e.binary = j.value("head", std::string("binary")) == "binary";
    e.threshold = j.value("threshold", 0.5);
    for (const json& m : block.at("members")) {
      // The member's folder: where its ONNX file lies (members/<i>/model.onnx).
      const fs::path member = fs::path(folder) / fs::path(m.at("onnx").at("file").get<std::string>()).parent_path();
      Result<LoadedRun> r = load_run(member.string());
      if (!r) return make_error(r.error().code, "ensemble member " + member.string() + ": " + r.error().message);
      if (r.value().spec.classes != e.classes)
        return make_error(ErrorCode::kInvalidArgument, "ensemble member " + member.string() + " has other classes than " + folder);
      e.members.push_back(r.take());
      e.weights.push_back(m.value("weight", 1.0));
    }
    if (e.method == "stacking") {
      const json& st = block.at("stacking");
      e.stacking.binary = e.binary;
      e.stacking.members = static_cast<int>(e.members.size());
      e.stacking.classes = static_cast<int>(e.classes.size());
      e.stacking.weights = st.at("weights").get<std::vector<std::vector<double>>>();
      e.stacking.intercepts = st.at("intercepts").get<std::vector<double>>();
    } else if (e.method != "soft") {
      return make_error(ErrorCode::kInvalidArgument, folder + "/model.json: ensemble method " + e.method + " (soft or stacking)");
    }
  } catch (const json::exception& ex) {
    return make_error(ErrorCode::kCorrupt, folder + "/model.json: the ensemble block is malformed: " + ex.what());
  }
  if (e.members.size() < 2) return make_error(ErrorCode::kCorrupt, folder + "/model.json: an ensemble needs two members");
  return e;
}

}  // namespace cellcam::train
