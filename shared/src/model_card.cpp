// model_card.cpp — model.json parsed strictly and written canonically; see model_card.h for the schema.
#include "cellcam/model_card.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <set>

namespace cellcam {
namespace {

using nlohmann::json;

Error card_error(const std::string& message) { return make_error(ErrorCode::kInvalidSpec, "model.json: " + message); }

// Thrown inside the parser only, turned into an Error at its one entry point.
struct CardError {
  std::string message;
};
[[noreturn]] void bad(const std::string& message) { throw CardError{message}; }

bool is_number(const json& j) { return j.is_number() && std::isfinite(j.get<double>()); }
bool is_int(const json& j) { return j.is_number_integer() || (j.is_number_unsigned()); }

const json& field(const json& j, const char* key, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end()) bad(where + "\"" + key + "\" is missing");
  return *it;
}
std::string string_field(const json& j, const char* key, const std::string& where) {
  const json& v = field(j, key, where);
  if (!v.is_string() || v.get<std::string>().empty()) bad(where + "\"" + key + "\" must be a non-empty string");
  return v.get<std::string>();
}
std::string optional_string(const json& j, const char* key, const std::string& fallback, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_string()) bad(where + "\"" + key + "\" must be a string");
  return it->get<std::string>();
}
double optional_number(const json& j, const char* key, double fallback, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!is_number(*it)) bad(where + "\"" + key + "\" must be a number");
  return it->get<double>();
}

// The keys of `j` outside `known`, as a JSON object's text.
std::string extra_keys(const json& j, std::initializer_list<const char*> known) {
  json out = json::object();
  for (auto it = j.begin(); it != j.end(); ++it) {
    bool k = false;
    for (const char* name : known) k = k || it.key() == name;
    if (!k) out[it.key()] = it.value();
  }
  return out.dump();
}

bool is_hex64(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

// A path that means the same wherever the folder is: relative, inside it.
void check_relative_path(const std::string& path, const std::string& where) {
  if (path.empty() || path[0] == '/' || path[0] == '\\' || (path.size() > 1 && path[1] == ':') ||
      path.find("..") != std::string::npos)
    bad(where + "\"" + path + "\" must be a path inside the model's folder (relative, without \"..\")");
}

OnnxFile parse_onnx(const json& j, const std::string& where) {
  if (!j.is_object()) bad(where + "\"onnx\" must be an object {\"file\", \"sha256\"}");
  OnnxFile f;
  f.file = optional_string(j, "file", "model.onnx", where + "onnx: ");
  check_relative_path(f.file, where + "onnx.file ");
  f.sha256 = optional_string(j, "sha256", "", where);
  if (!is_hex64(f.sha256)) bad(where + "\"onnx.sha256\" is missing or not 64 hex digits (cellcam export writes it)");
  for (char& c : f.sha256) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  f.bytes = static_cast<long long>(optional_number(j, "bytes", 0, where + "onnx: "));
  f.extra_json = extra_keys(j, {"file", "sha256", "bytes"});
  return f;
}

WeightsFile parse_weights(const json& j) {
  if (!j.is_object()) bad("\"weights\" must be an object {\"file\", \"sha256\", \"bytes\"}");
  WeightsFile w;
  w.file = optional_string(j, "file", "weights.pt", "weights: ");
  check_relative_path(w.file, "weights.file ");
  w.sha256 = optional_string(j, "sha256", "", "weights: ");
  if (!is_hex64(w.sha256)) bad("\"weights.sha256\" is missing or not 64 hex digits (cellcam export writes it)");
  for (char& c : w.sha256) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  w.bytes = static_cast<long long>(optional_number(j, "bytes", 0, "weights: "));
  return w;
}

CamInfo parse_cam(const json& j, const std::string& where) {
  CamInfo c;
  if (j.is_null()) return c;
  if (!j.is_object() || !is_int(field(j, "width", where + "cam: ")) || !is_int(field(j, "height", where + "cam: ")) ||
      j["width"].get<long long>() < 1 || j["height"].get<long long>() < 1 || j["width"].get<long long>() > 4096 ||
      j["height"].get<long long>() > 4096)
    bad(where + "\"cam\" needs positive integer width and height");
  c.width = j["width"].get<int>();
  c.height = j["height"].get<int>();
  c.layer = optional_string(j, "layer", "", where + "cam: ");
  c.method = optional_string(j, "method", "gradcam", where + "cam: ");
  return c;
}
json cam_json(const CamInfo& c) {
  if (!c.present()) return nullptr;
  return {{"width", c.width}, {"height", c.height}, {"layer", c.layer}, {"method", c.method}};
}

OodInfo parse_ood(const json& j, const std::string& where) {
  OodInfo o;
  if (j.is_null()) return o;
  const std::string w = where + "ood: ";
  if (!j.is_object()) bad(where + "\"ood\" must be an object {\"score\", \"threshold\", ...}");
  o.present = true;
  o.score = string_field(j, "score", w);
  if (o.score != "mahalanobis" && o.score != "members")
    bad(w + "\"score\" is \"" + o.score + "\" (mahalanobis, or members for an ensemble)");
  if (!is_number(field(j, "threshold", w)) || j["threshold"].get<double>() < 0) bad(w + "\"threshold\" must be a number >= 0");
  o.threshold = j["threshold"].get<double>();
  o.layer = optional_string(j, "layer", "", w);
  const double f = optional_number(j, "features", 0, w);
  if (f < 0 || f != std::floor(f) || f > 1e6) bad(w + "\"features\" must be a count");
  o.features = static_cast<int>(f);
  o.pass_rate = optional_number(j, "pass_rate", 0.95, w);
  if (o.pass_rate <= 0 || o.pass_rate > 1) bad(w + "\"pass_rate\" must be in (0, 1]");
  o.threshold_source = optional_string(j, "threshold_source", "", w);
  o.extra_json = extra_keys(j, {"score", "threshold", "layer", "features", "pass_rate", "threshold_source"});
  return o;
}
json ood_json(const OodInfo& o) {
  json j = json::parse(o.extra_json);
  j["score"] = o.score;
  j["threshold"] = o.threshold;
  j["layer"] = o.layer;
  j["features"] = o.features;
  j["pass_rate"] = o.pass_rate;
  j["threshold_source"] = o.threshold_source;
  return j;
}

std::vector<std::string> string_list(const json& j, const char* key, const std::string& where) {
  if (!j.is_array()) bad(where + "\"" + key + "\" must be a list of names");
  std::vector<std::string> out;
  for (const json& v : j) {
    if (!v.is_string() || v.get<std::string>().empty()) bad(where + "\"" + key + "\" must list non-empty names");
    out.push_back(v.get<std::string>());
  }
  return out;
}

void parse_classes(const json& j, ModelCard& card) {
  card.classes = string_list(field(j, "classes", ""), "classes", "");
  if (card.classes.size() < 2) bad("\"classes\" must list at least two class names");
  if (std::set<std::string>(card.classes.begin(), card.classes.end()).size() != card.classes.size())
    bad("\"classes\" has a name twice");
  const std::string head = string_field(j, "head", "");
  if (head != "binary" && head != "multiclass") bad("\"head\" is \"" + head + "\" (binary or multiclass)");
  card.head = head == "binary" ? HeadKind::kBinary : HeadKind::kMulticlass;
  if (card.binary() && card.classes.size() != 2)
    bad("a binary head needs two classes, not " + std::to_string(card.classes.size()));
  card.display_names = card.classes;
  if (j.contains("display_names") && !j["display_names"].is_null()) {
    card.display_names = string_list(j["display_names"], "display_names", "");
    if (card.display_names.size() != card.classes.size())
      bad("\"display_names\" has " + std::to_string(card.display_names.size()) + " names for " +
          std::to_string(card.classes.size()) + " classes");
  }
}

void parse_operating_point(const json& j, ModelCard& card) {
  if (card.binary() && j.contains("threshold")) {
    card.threshold = optional_number(j, "threshold", 0.5, "");
    if (card.threshold < 0 || card.threshold > 1) bad("\"threshold\" must be a number in [0, 1]");
    card.threshold_source = optional_string(j, "threshold_source", "model.json", "");
  }
  if (j.contains("review_band") && !j["review_band"].is_null()) {
    const json& b = j["review_band"];
    if (!b.is_array() || b.size() != 2 || !is_number(b[0]) || !is_number(b[1]) || b[0].get<double>() < 0 ||
        b[1].get<double>() > 1 || b[0].get<double>() > b[1].get<double>())
      bad("\"review_band\" must be [lo, hi] with 0 <= lo <= hi <= 1");
    card.has_review_band = true;
    card.review_lo = b[0].get<double>();
    card.review_hi = b[1].get<double>();
    card.review_band_source = optional_string(j, "review_band_source", "model.json", "");
  }
  card.temperature = optional_number(j, "temperature", 1.0, "");
  if (!(card.temperature > 0)) bad("\"temperature\" must be a positive number");
}

void parse_options(const json& j, ModelCard& card) {
  card.cam = parse_cam(j.value("cam", json()), "");
  if (j.contains("tiling") && !j["tiling"].is_null()) {
    const json& t = j["tiling"];
    auto positive = [&](const char* key) {
      const double v = optional_number(t, key, 0, "tiling: ");
      if (v < 0 || v != std::floor(v) || v > 100000) bad(std::string("\"tiling.") + key + "\" must be a whole number of pixels");
      return static_cast<int>(v);
    };
    if (!t.is_object()) bad("\"tiling\" must be an object {\"tile\", \"stride\", \"above\"}");
    card.tiling = {positive("tile"), positive("stride"), positive("above")};
    if (card.tiling.stride > card.tiling.tile && card.tiling.tile > 0) bad("\"tiling.stride\" must not exceed the tile");
  }
  if (j.contains("tta") && !j["tta"].is_null()) {
    if (!j["tta"].is_object()) bad("\"tta\" must be an object {\"default\", \"note\"}");
    card.tta_default = j["tta"].value("default", false);
    card.tta_note = optional_string(j["tta"], "note", "", "tta: ");
  }
  if (j.contains("provenance") && j["provenance"].is_object()) {
    const json& p = j["provenance"];
    card.cellcam_version = optional_string(p, "cellcam_version", "", "provenance: ");
    card.git_commit = optional_string(p, "git_commit", "", "provenance: ");
    card.data_list_sha256 = optional_string(p, "data_list_sha256", "", "provenance: ");
  }
}

void parse_ensemble(const json& e, ModelCard& card) {
  card.is_ensemble = true;
  EnsembleInfo& info = card.ensemble;
  if (!e.is_object() || !e.contains("members") || !e["members"].is_array() || e["members"].size() < 2)
    bad("\"ensemble.members\" must list at least two members");
  for (std::size_t i = 0; i < e["members"].size(); ++i) {
    const json& m = e["members"][i];
    const std::string where = "ensemble member " + std::to_string(i) + ": ";
    if (!m.is_object() || !m.contains("onnx")) bad(where + "needs \"onnx\": {\"file\", \"sha256\"} inside the folder");
    EnsembleMember member;
    member.name = optional_string(m, "name", "member " + std::to_string(i), where);
    member.onnx = parse_onnx(m["onnx"], where);
    member.weight = optional_number(m, "weight", 1.0, where);
    if (member.weight < 0) bad(where + "\"weight\" must be >= 0");
    member.temperature = optional_number(m, "temperature", 1.0, where);
    member.cam = parse_cam(m.value("cam", json()), where);
    member.ood = parse_ood(m.value("ood", json()), where);
    member.extra_json = extra_keys(m, {"name", "onnx", "weight", "temperature", "cam", "ood"});
    info.members.push_back(member);
  }
  const std::string method = optional_string(e, "method", "soft", "ensemble: ");
  if (method != "soft" && method != "stacking") bad("\"ensemble.method\" is \"" + method + "\" (soft or stacking)");
  info.method = method == "soft" ? CombineMethod::kSoft : CombineMethod::kStacking;
  if (info.method == CombineMethod::kStacking) {
    const std::size_t M = info.members.size(), K = card.classes.size();
    const std::size_t outputs = card.binary() ? 1 : K, features = card.binary() ? M : M * K;
    const json st = e.value("stacking", json::object());
    const std::string need = "\"ensemble.stacking\" needs weights (" + std::to_string(outputs) + " x " +
                             std::to_string(features) + ") and " + std::to_string(outputs) + " intercepts";
    if (!st.is_object() || !st.contains("weights") || !st["weights"].is_array() || st["weights"].size() != outputs ||
        !st.contains("intercepts") || !st["intercepts"].is_array() || st["intercepts"].size() != outputs)
      bad(need);
    for (const json& row : st["weights"]) {
      if (!row.is_array() || row.size() != features) bad(need);
      std::vector<double> r;
      for (const json& v : row) {
        if (!is_number(v)) bad(need);
        r.push_back(v.get<double>());
      }
      info.stacking.weights.push_back(r);
    }
    for (const json& v : st["intercepts"]) {
      if (!is_number(v)) bad(need);
      info.stacking.intercepts.push_back(v.get<double>());
    }
    info.stacking.clamp = optional_number(st, "clamp", 1e-6, "ensemble.stacking: ");
  }
  if (e.contains("review") && e["review"].is_object()) {
    info.review_json = e["review"].dump();
    if (e["review"].value("score", "") == "disagreement") {
      if (!e["review"].contains("cutoff") || !is_number(e["review"]["cutoff"])) bad("\"ensemble.review.cutoff\" must be a number");
      info.review_on_disagreement = true;
      info.disagreement_cutoff = e["review"]["cutoff"].get<double>();
    }
  }
  info.extra_json = extra_keys(e, {"members", "method", "stacking", "review"});
  if (!card.cam.present()) card.cam = info.members[0].cam;
}

ModelCard parse_card(const json& j, bool require_onnx) {
  if (!j.is_object()) bad("must be a JSON object");
  if (!j.contains("schema_version"))
    bad("no \"schema_version\": not a model.json this cellcam reads (written before schema 1? export the model again)");
  if (!is_int(j["schema_version"]) || j["schema_version"].get<long long>() != kModelCardSchema)
    bad("schema_version " + j["schema_version"].dump() + " is not one this cellcam reads (it reads " +
        std::to_string(kModelCardSchema) + ")");
  ModelCard card;
  card.name = string_field(j, "name", "");
  card.version = optional_string(j, "version", "", "");
  parse_classes(j, card);
  if (!j.contains("preprocess") || !j["preprocess"].is_object()) bad("no \"preprocess\" block");
  Result<PreprocessSpec> pre = parse_preprocess_spec(j["preprocess"].dump());
  if (!pre) bad("preprocess: " + pre.error().message);
  card.preprocess = pre.value();
  parse_operating_point(j, card);
  parse_options(j, card);
  if (j.contains("ensemble") && !j["ensemble"].is_null()) {
    parse_ensemble(j["ensemble"], card);
  } else if (j.contains("onnx") && !j["onnx"].is_null()) {
    card.onnx = parse_onnx(j["onnx"], "");
  } else if (require_onnx) {
    bad("\"onnx\" is missing: a model folder names its ONNX file and its SHA-256 (cellcam export writes them)");
  }
  if (j.contains("weights") && !j["weights"].is_null()) card.weights = parse_weights(j["weights"]);
  card.ood = parse_ood(j.value("ood", json()), "");
  if (card.ood.present && card.is_ensemble) {
    if (card.ood.score != "members") bad("ood: an ensemble's \"score\" is \"members\" (its members' scores combined)");
    for (const EnsembleMember& m : card.ensemble.members)
      if (!m.ood.present || !(m.ood.threshold > 0))
        bad("ood: ensemble member \"" + m.name + "\" has no \"ood\" block with a positive threshold");
  } else if (card.ood.present && card.ood.score == "members") {
    bad("ood: \"score\": \"members\" is for an ensemble");
  }
  if (j.contains("architecture") && !j["architecture"].is_null()) {
    Result<ModelSpec> spec = parse_model_spec(j.dump());
    if (!spec) bad("architecture: " + spec.error().message);
    card.has_architecture = true;
    card.architecture = spec.take();
  }
  card.extra_json = extra_keys(j, {"schema_version", "name", "version", "classes", "display_names", "head", "preprocess",
                                   "threshold", "threshold_source", "review_band", "review_band_source", "temperature",
                                   "cam", "tiling", "tta", "onnx", "weights", "ensemble", "provenance", "ood"});
  return card;
}

json onnx_json(const OnnxFile& f) {
  json o = json::parse(f.extra_json);
  o["file"] = f.file;
  o["sha256"] = f.sha256;
  o["bytes"] = f.bytes;
  return o;
}

}  // namespace

std::vector<OnnxFile> ModelCard::onnx_files() const {
  if (!is_ensemble) return {onnx};
  std::vector<OnnxFile> out;
  for (const EnsembleMember& m : ensemble.members) out.push_back(m.onnx);
  return out;
}

Result<ModelCard> parse_model_card(const std::string& json_text, bool require_onnx) {
  json j;
  try {
    j = json::parse(json_text);
  } catch (const json::exception& e) {
    return card_error(std::string("not valid JSON (") + e.what() + ")");
  }
  try {
    return parse_card(j, require_onnx);
  } catch (const CardError& e) {
    return card_error(e.message);
  } catch (const json::exception& e) {
    return card_error(std::string("a field has the wrong type (") + e.what() + ")");
  }
}

std::string model_card_to_json(const ModelCard& c) {
  json j = json::parse(c.extra_json);
  j["schema_version"] = c.schema_version;
  j["name"] = c.name;
  j["version"] = c.version;
  j["classes"] = c.classes;
  j["display_names"] = c.display_names;
  j["head"] = c.binary() ? "binary" : "multiclass";
  j["preprocess"] = json::parse(preprocess_spec_to_json(c.preprocess));
  if (c.binary()) {
    j["threshold"] = c.threshold;
    j["threshold_source"] = c.threshold_source;
  }
  if (c.has_review_band) {
    j["review_band"] = {c.review_lo, c.review_hi};
    j["review_band_source"] = c.review_band_source;
  }
  j["temperature"] = c.temperature;
  if (c.cam.present() && !c.is_ensemble) j["cam"] = cam_json(c.cam);
  if (c.tiling.tile > 0 || c.tiling.above > 0)
    j["tiling"] = {{"tile", c.tiling.tile}, {"stride", c.tiling.stride}, {"above", c.tiling.above}};
  j["tta"] = {{"default", c.tta_default}, {"note", c.tta_note}, {"views", "the 8 flips/rotations (4 flips when not square)"}};
  if (c.is_ensemble) {
    json e = json::parse(c.ensemble.extra_json);
    e["method"] = c.ensemble.method == CombineMethod::kSoft ? "soft" : "stacking";
    json members = json::array();
    for (const EnsembleMember& m : c.ensemble.members) {
      json mj = json::parse(m.extra_json);
      mj["name"] = m.name;
      mj["onnx"] = onnx_json(m.onnx);
      mj["weight"] = m.weight;
      mj["temperature"] = m.temperature;
      if (m.cam.present()) mj["cam"] = cam_json(m.cam);
      if (m.ood.present) mj["ood"] = ood_json(m.ood);
      members.push_back(mj);
    }
    e["members"] = members;
    if (c.ensemble.method == CombineMethod::kStacking) {
      json st = {{"weights", c.ensemble.stacking.weights}, {"intercepts", c.ensemble.stacking.intercepts},
                 {"clamp", c.ensemble.stacking.clamp}};
      st["features"] = c.binary() ? "logit" : "log";
      e["stacking"] = st;
    }
    if (c.ensemble.review_json != "null") e["review"] = json::parse(c.ensemble.review_json);
    j["ensemble"] = e;
  } else if (!c.onnx.sha256.empty()) {
    j["onnx"] = onnx_json(c.onnx);
  }
  if (!c.weights.sha256.empty()) j["weights"] = {{"file", c.weights.file}, {"sha256", c.weights.sha256}, {"bytes", c.weights.bytes}};
  if (!c.cellcam_version.empty() || !c.git_commit.empty() || !c.data_list_sha256.empty())
    j["provenance"] = {{"cellcam_version", c.cellcam_version}, {"git_commit", c.git_commit},
                       {"data_list_sha256", c.data_list_sha256}};
  if (c.ood.present) j["ood"] = ood_json(c.ood);
  return j.dump(2) + "\n";
}

Result<bool> check_onnx_ood_output(const ModelCard& card, const std::vector<long long>& ood_dims) {
  if (!card.ood.present) return true;
  if (ood_dims.empty())
    return card_error("it has an \"ood\" block, but model.onnx has no \"ood\" output (export the model again)");
  if (ood_dims.size() != 1) return card_error("model.onnx's \"ood\" output is not (N)");
  return true;
}

Result<bool> check_onnx_outputs(const ModelCard& card, const std::vector<long long>& input_dims,
                                const std::vector<long long>& probs_dims, const std::vector<long long>& cam_dims) {
  const long long K = card.class_count();
  const std::vector<long long> want = {card.preprocess.channels(), card.preprocess.height, card.preprocess.width};
  if (input_dims.size() == 4)
    for (int i = 0; i < 3; ++i)
      if (input_dims[i + 1] > 0 && input_dims[i + 1] != want[i])
        return card_error("model.onnx takes (N," + std::to_string(input_dims[1]) + "," + std::to_string(input_dims[2]) + "," +
                          std::to_string(input_dims[3]) + ") but the preprocess block makes (" + std::to_string(want[0]) + "," +
                          std::to_string(want[1]) + "," + std::to_string(want[2]) + ")");
  if (probs_dims.size() != 2)
    return card_error("model.onnx's \"probs\" output has " + std::to_string(probs_dims.size()) + " dimensions, not (N, classes)");
  if (probs_dims[1] > 0 && probs_dims[1] != K)
    return card_error("model.onnx gives " + std::to_string(probs_dims[1]) + " class probabilities but model.json lists " +
                      std::to_string(K) + " classes");
  if (!cam_dims.empty() && (cam_dims.size() != 4 || (cam_dims[1] > 0 && cam_dims[1] != K)))
    return card_error("model.onnx's \"cam\" output is not (N, " + std::to_string(K) + ", h, w)");
  return true;
}

std::vector<std::pair<std::string, std::string>> onnx_metadata(const ModelCard& card) {
  return {{"cellcam.classes", json(card.classes).dump()},
          {"cellcam.display_names", json(card.display_names).dump()},
          {"cellcam.head", card.binary() ? "binary" : "multiclass"},
          {"cellcam.preprocess", preprocess_spec_to_json(card.preprocess)},
          {"cellcam.model_version", card.version},
          {"cellcam.schema_version", std::to_string(card.schema_version)},
          {"cellcam.version", card.cellcam_version}};
}

}  // namespace cellcam
