// export_model.cpp — see export_model.h.
#include "export_model.h"

#include <torch/torch.h>

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <onnx/onnx_pb.h>
#include <sstream>

#include "cellcam/model_card.h"
#include "cellcam/model_spec.h"
#include "cellcam/version.h"
#include "checkpoint.h"
#include "export_onnx.h"
#include "ood_model.h"
#include "quantize_model.h"
#include "file_io.h"
#include "runtime.h"
#include "sha256.h"
#include "trained_model.h"

namespace cellcam::explain {
namespace fs = std::filesystem;
using nlohmann::json;

std::string sha256_hex(const std::string& bytes) { return native::sha256_hex(bytes); }

namespace {

int fail(const Error& e) {
  std::fprintf(stderr, "cellcam export: %s\n", e.message.c_str());
  return 1;
}

// The card's name, classes, preprocessing and versions as model.onnx's metadata_props, so the graph says
// what it is even without its folder.
Result<std::string> with_metadata(const std::string& bytes, const ModelCard& card) {
  onnx::ModelProto model;
  if (!model.ParseFromString(bytes)) return make_error(ErrorCode::kInternal, "the exported ONNX model does not parse");
  for (const auto& [key, value] : onnx_metadata(card)) {
    onnx::StringStringEntryProto* entry = model.add_metadata_props();
    entry->set_key(key);
    entry->set_value(value);
  }
  std::string out;
  if (!model.SerializeToString(&out)) return make_error(ErrorCode::kInternal, "cannot serialise the ONNX model");
  return out;
}

// A SHA-256 of the run's data list (split.csv: every image, its label and part), "" when there is none.
std::string data_list_sha256(const train::LoadedRun& r) {
  if (r.exported) return r.card.data_list_sha256;
  Result<std::string> split = native::read_text((fs::path(r.folder) / "split.csv").string());
  return split ? sha256_hex(split.value()) : "";
}

std::string percent(const json& v) {
  if (!v.is_number()) return "n/a";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f%%", 100.0 * v.get<double>());
  return buf;
}

std::string number(const json& v) {
  if (!v.is_number()) return "n/a";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", v.get<double>());
  return buf;
}

// What a `cellcam finetune` run was fine-tuned from and on, and its before/after table (finetune.json).
std::string finetune_paragraph(const json& f) {
  std::ostringstream md;
  const json& base = f.value("base_model", json::object());
  const json& set = f.value("reviewed_set", json::object());
  const json& review = set.value("review", json());
  md << "\n## Fine-tuned\n\nFrom `" << base.value("name", std::string("?")) << "@" << base.value("version", std::string("?"))
     << "` (weights SHA-256 " << base.value("weights_sha256", std::string("?")).substr(0, 16) << "...) on " << set.value("images", 0)
     << " images of `" << set.value("data", std::string("?")) << "`";
  if (review.is_object())
    md << " (reviewed on " << review.value("model", json::object()).value("name", std::string("?")) << "@"
       << review.value("model", json::object()).value("version", std::string("?")) << "'s predictions: " << review.value("confirmed", 0)
       << " confirmed, " << review.value("corrected", 0) << " corrected)";
  if (f.contains("mix") && f["mix"].is_object()) md << " and " << f["mix"].value("images", 0) << " original training images";
  md << ".\n\n| images | n | accuracy before | after | ROC-AUC before | after |\n|---|---|---|---|---|---|\n";
  for (const json& row : f.value("before_after", json::array())) {
    const json& b = row.value("before", json::object());
    const json& a = row.value("after", json::object());
    md << "| " << row.value("images", std::string()) << " | " << row.value("n", 0) << " | " << percent(b.value("accuracy", json())) << " | "
       << percent(a.value("accuracy", json())) << " | " << number(b.value("roc_auc", json())) << " | " << number(a.value("roc_auc", json()))
       << " |\n";
  }
  if (f.value("degraded", false)) md << "\n**The original test accuracy fell by more than " << percent(f.value("max_drop", json())) << ".**\n";
  return md.str();
}

// A first model card from what the run knows; issue-specific facts (data licence, limits) are added by hand.
std::string draft_card(const json& model, const train::LoadedRun& r) {
  std::ostringstream md;
  const json& test = model["metrics"].is_object() ? model["metrics"] : json::object();
  md << "---\nlicense: other\ntags:\n- image-classification\n- microscopy\n- grad-cam\n---\n\n";
  md << "# " << model["name"].get<std::string>() << "\n\n";
  md << "**Intended use:** a screening aid that flags images for review by a qualified person. It is not a "
        "diagnosis and must not be used as one.\n\n";
  md << "Classes: ";
  for (std::size_t i = 0; i < r.spec.classes.size(); ++i) md << (i ? ", " : "") << "`" << r.spec.classes[i] << "`";
  md << ". Input: " << r.spec.preprocess.width << "x" << r.spec.preprocess.height << " "
     << model["preprocess"]["color"].get<std::string>() << ", aspect `" << model["preprocess"]["aspect"].get<std::string>() << "`"
     << (r.spec.preprocess.stain.enabled ? ", stain-normalised per image (the `stain` block of `model.json`)" : "")
     << ".\n\n";
  md << "## Held-out test metrics (from the training run)\n\n| metric | value |\n|---|---|\n";
  md << "| accuracy | " << percent(test.value("accuracy", json())) << " |\n";
  md << "| ROC-AUC | " << number(test.value("roc_auc", json())) << " |\n";
  if (test.contains("macro") && test["macro"].is_object()) md << "| macro F1 | " << number(test["macro"].value("f1", json())) << " |\n";
  if (r.spec.head == HeadKind::kBinary) md << "\nOperating threshold " << number(r.threshold) << " on P(" << r.spec.classes[1] << ").\n";
  if (model.contains("finetuned") && model["finetuned"].is_object()) md << finetune_paragraph(model["finetuned"]);
  if (model.contains("quantization") && model["quantization"].is_object()) md << quantization_card(model["quantization"]);
  md << "\nGrad-CAM target layer `" << model["cam"]["layer"].get<std::string>() << "`.\n";
  md << "\nExported by `cellcam export " << r.folder << "`.\n";
  return md.str();
}

int export_impl(const ExportSettings& s) {
  if (s.out.empty()) return fail(make_error(ErrorCode::kInvalidArgument, "give --out, the model folder to write"));
  Result<bool> free = native::check_output_folder(native::without_trailing_separators(s.out), s.force, {"model.json", "model.onnx", "weights.pt"},
                                                  "model folder", "give --force to replace the whole folder (its card and plots too)");
  if (!free) return fail(free.error());
  Result<train::LoadedRun> loaded = train::load_run(s.run, s.checkpoint);
  if (!loaded) return fail(loaded.error());
  train::LoadedRun& r = loaded.value();
  r.net->to(torch::kCPU);
  r.net->eval();
  std::string name = s.name.empty() ? fs::path(s.out).lexically_normal().filename().string() : s.name;
  if (name.empty() || name == ".") name = fs::path(s.out).lexically_normal().parent_path().filename().string();
  r.spec.name = name;
  r.spec.version = s.version;
  Result<Quantize> mode = parse_quantize(s.quantize);
  if (!mode) return fail(mode.error());
  if (mode.value() == Quantize::kNone && !s.eval_data.empty())
    return fail(make_error(ErrorCode::kInvalidArgument, "--eval-data measures a quantisation: give --quantize fp16|int8 with it"));
  json quantization;
  if (mode.value() != Quantize::kNone) {
    Result<json> measured = quantize_and_measure(r, mode.value(), {s.run, s.eval_data, s.eval_split});
    if (!measured) return fail(measured.error());
    quantization = measured.take();
  }

  Result<OnnxExport> onnx = export_onnx(r.net, s.cam_layer.empty() ? r.cam_layer : s.cam_layer,
                                        "cellcam model " + name + " " + s.version + " with Grad-CAM outputs", r.temperature);
  if (!onnx) return fail(onnx.error());
  OnnxExport& o = onnx.value();
  const std::size_t float32_bytes = o.bytes.size();
  Result<QuantizedGraph> quantized = quantize_graph(o.bytes, mode.value());
  if (!quantized) return fail(quantized.error());
  o.bytes = quantized.value().bytes;

  json model = json::parse(model_spec_to_json(r.spec));
  model["name"] = name;
  model["version"] = s.version;
  const int classes = static_cast<int>(r.spec.classes.size());
  model["input"] = {{"name", "input"}, {"shape", {"N", r.spec.preprocess.channels(), r.spec.preprocess.height, r.spec.preprocess.width}},
                    {"dtype", "float32"}};
  model["outputs"] = {{"logits", {"N", r.spec.outputs()}},
                      {"probs", {"N", classes}},
                      {"cam", {"N", classes, o.cam_height, o.cam_width}},
                      {"hirescam", {"N", classes, o.cam_height, o.cam_width}}};
  model["cam"] = {{"layer", o.cam_layer}, {"channels", o.cam_channels}, {"height", o.cam_height}, {"width", o.cam_width},
                  {"method", "gradcam"}, {"outputs", {"cam", "hirescam"}}};
  model["tta"] = {{"default", s.tta_default}, {"views", "the 8 flips/rotations (4 flips when not square)"}, {"note", s.tta_note}};
  model["temperature"] = r.temperature;  // already applied inside model.onnx's probs; the threshold is at it
  if (r.review_band.size() == 2) {  // the page flags "refer for review" inside it
    model["review_band"] = r.review_band;
    model["review_band_source"] = r.review_band_source;
  }
  if (r.spec.head == HeadKind::kBinary) {
    model["threshold"] = r.threshold;
    model["threshold_source"] = r.threshold_source;
    model["positive_class"] = r.spec.classes[1];
  }
  json metrics = json();
  if (r.exported) metrics = r.report;
  else if (r.report.is_object() && r.report.contains("test")) metrics = r.report["test"];
  model["metrics"] = metrics;
  if (quantization.is_object()) {  // the file's size is known once the card's metadata is in it, below
    quantization["tensors"] = quantized.value().tensors;
    quantization["weight_bytes"] = {{"float32", quantized.value().weight_bytes_before}, {"stored", quantized.value().weight_bytes_after}};
    quantization["onnx_bytes_float32"] = float32_bytes;
    model["quantization"] = quantization;
  }
  // Names, not paths: model.json travels with its folder, and a temporary run folder means nothing later.
  model["source"] = {{"run", fs::path(r.folder).lexically_normal().filename().string()},
                     {"checkpoint", fs::path(r.checkpoint_path).filename().string()}, {"epoch", r.checkpoint_epoch}};
  // A `cellcam finetune` run: what it started from and was trained on, and its before/after table (a model
  // folder exported again keeps its block).
  json finetuned;
  if (!r.exported) {
    Result<json> f = native::read_json_object((fs::path(r.folder) / "finetune.json").string());
    if (f) finetuned = f.take();
  } else {
    const json extra = json::parse(r.card.extra_json, nullptr, false);
    if (extra.is_object() && extra.contains("finetuned")) finetuned = extra["finetuned"];
  }
  if (finetuned.is_object()) {
    if (finetuned.value("degraded", false) && !s.accept_drop && !r.exported)
      return fail(make_error(ErrorCode::kInvalidArgument, s.run + " is a fine-tuning whose original test accuracy fell by more than its "
                                                                  "--max-drop (see its report.md): give --accept-drop to export it anyway"));
    for (json& row : finetuned["before_after"]) {  // the table's figures, not every per-class block
      if (row.contains("before")) row["before"].erase("metrics");
      if (row.contains("after")) row["after"].erase("metrics");
    }
    model["finetuned"] = finetuned;
  }
  if (!r.exported && r.report.is_object()) {
    if (r.report.contains("split")) model["source"]["split"] = r.report["split"];
    if (r.report.contains("parameters")) model["parameters"] = r.report["parameters"];
  }

  // The card: through the one reader and writer (cellcam/model_card.h), so what export writes is what the
  // page and every command read back.
  model["schema_version"] = kModelCardSchema;
  model["display_names"] = r.exported && r.card.display_names.size() == r.spec.classes.size() ? r.card.display_names : r.spec.classes;
  model["provenance"] = {{"cellcam_version", version_string()}, {"git_commit", CELLCAM_GIT_COMMIT}, {"data_list_sha256", data_list_sha256(r)}};
  Result<ModelCard> parsed = parse_model_card(model.dump(), /*require_onnx=*/false);
  if (!parsed) return fail(parsed.error());
  ModelCard card = parsed.take();
  Result<std::string> graph = with_metadata(o.bytes, card);
  if (!graph) return fail(graph.error());
  card.onnx.file = "model.onnx";
  card.onnx.sha256 = sha256_hex(graph.value());
  card.onnx.bytes = static_cast<long long>(graph.value().size());
  card.onnx.extra_json = json{{"opset", 13}, {"nodes", o.nodes}}.dump();
  if (quantization.is_object()) {  // its size as a file, beside the float32 graph's (both without metadata before)
    const long long grown = static_cast<long long>(graph.value().size()) - static_cast<long long>(o.bytes.size());
    model["quantization"]["onnx_bytes"] = graph.value().size();
    model["quantization"]["onnx_bytes_float32"] = static_cast<long long>(float32_bytes) + grown;
    json extra = json::parse(card.extra_json);
    extra["quantization"] = model["quantization"];
    card.extra_json = extra.dump();
  }

  Result<std::string> weights = train::serialize_weights(r.net);
  if (!weights) return fail(weights.error());
  card.weights.sha256 = sha256_hex(weights.value());
  card.weights.bytes = static_cast<long long>(weights.value().size());

  // Everything is written into OUT.partial, which then takes OUT's place whole: a failed export (a full
  // disk) leaves the previous folder as it was, and --force never mixes the old card or plots with the
  // new model.
  const std::string target = native::without_trailing_separators(s.out);
  const fs::path staging(target + ".partial");
  std::error_code ec;
  fs::remove_all(staging, ec);
  fs::create_directories(staging, ec);
  if (ec) return fail(make_error(ErrorCode::kIo, "cannot create " + staging.string() + ": " + ec.message()));
  Result<bool> written = native::write_text_atomically((staging / "model.onnx").string(), graph.value());
  if (written) written = native::write_text_atomically((staging / "weights.pt").string(), weights.value());
  if (written) written = native::write_text_atomically((staging / "model.json").string(), model_card_to_json(card));
  if (written) written = native::write_text_atomically((staging / "README.md").string(), draft_card(model, r));
  if (written) written = native::replace_folder(staging.string(), target);
  if (!written) {
    fs::remove_all(staging, ec);
    return fail(written.error());
  }
  std::printf("cellcam export: %s -> %s (model.onnx %zu bytes, %s weights, %zu nodes, opset 13; CAM at %s, %dx%d; sha256 %s)\n",
              r.checkpoint_path.c_str(), s.out.c_str(), graph.value().size(), mode.value() == Quantize::kNone ? "float32" : quantize_name(mode.value()),
              o.nodes, o.cam_layer.c_str(), o.cam_width, o.cam_height, card.onnx.sha256.c_str());
  if (!s.ood) return 0;
  if (r.exported) return fail(make_error(ErrorCode::kInvalidArgument, "--ood needs a run folder (its data and split); for a model folder run "
                                                                      "cellcam ood " + target + " --data DATA --split SPLIT --write"));
  OodSettings ood;
  ood.model = target;
  ood.data = r.settings.value("data", std::string());
  ood.split = (fs::path(r.folder) / "split.csv").string();
  ood.others = s.ood_others;
  ood.out = target;
  ood.write = true;
  return run_ood(ood);
}

}  // namespace

int run_export(const ExportSettings& settings) {
  try {
    return export_impl(settings);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cellcam export: %s\n", native::first_line(e.what()).c_str());
    return 1;
  }
}

}  // namespace cellcam::explain
