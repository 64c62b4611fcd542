// finetune.cpp — see finetune.h. Prepares the run folder (data list, base spec, finetune.json), runs the
// ordinary trainer on it, then scores the base and the fine-tuned model on the same images.
#include "finetune.h"

#include <torch/torch.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>

#include "calibration.h"
#include "cellcam/model_spec.h"
#include "dataset.h"
#include "file_io.h"
#include "metrics.h"
#include "metrics_json.h"
#include "predictions.h"
#include "reviewed_set.h"
#include "sha256.h"
#include "split.h"
#include "trained_model.h"

namespace cellcam::train {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

int fail(const Error& e) {
  std::fprintf(stderr, "cellcam finetune: %s\n", e.message.c_str());
  return 1;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

std::string absolute(const std::string& p) {
  std::error_code ec;
  const fs::path a = fs::absolute(p, ec);
  return ec ? p : a.lexically_normal().string();
}

// The dataset's labels into the model's class order; a label the model lacks is an error.
Result<bool> to_model_classes(data::Dataset& d, const std::vector<std::string>& classes, const std::string& what) {
  std::vector<int> map(d.classes.size(), -1);
  for (std::size_t c = 0; c < d.classes.size(); ++c) {
    const auto at = std::find(classes.begin(), classes.end(), d.classes[c]);
    if (at == classes.end())
      return make_error(ErrorCode::kInvalidArgument, what + ": class \"" + d.classes[c] + "\" is not one of the model's classes (" +
                                                         join(classes) + ")");
    map[c] = static_cast<int>(at - classes.begin());
  }
  for (data::Sample& s : d.samples) s.label = map[static_cast<std::size_t>(s.label)];
  d.classes = classes;
  return true;
}

// ---------------------------------------------------------------------------------------------
// What a model scores on a list of images

struct Score {
  bool measured = false;
  int images = 0;
  double accuracy = NAN, roc_auc = NAN, macro_f1 = NAN;
  json metrics;
};

Score score(LoadedRun& r, const data::Dataset& d, const std::vector<int>& samples, int threads) {
  Score out;
  if (samples.empty()) return out;
  std::vector<data::Skipped> skipped;
  Result<ImageStore> store = ImageStore::build(d, samples, r.spec.preprocess, threads, std::size_t(1) << 30, &skipped);
  if (!store || store.value().usable().empty()) return out;
  const Predictions p = predict_store(r.net, store.value(), store.value().usable(), 128, r.device, false, r.temperature);
  Result<Metrics> m = compute_metrics(p.probs, p.labels, r.threshold);
  if (!m) return out;
  out.measured = true;
  out.images = static_cast<int>(p.labels.size());
  out.accuracy = m.value().accuracy;
  out.roc_auc = m.value().roc_auc;
  out.macro_f1 = m.value().macro.f1;
  out.metrics = metrics_json(m.value(), d.classes, p.loss);
  return out;
}

json number_or_null(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

std::string cell(double v, bool percent) {
  if (!std::isfinite(v)) return "n/a";
  char buf[32];
  std::snprintf(buf, sizeof buf, percent ? "%.2f%%" : "%.4f", percent ? 100 * v : v);
  return buf;
}

std::string delta(double before, double after, bool percent) {
  if (!std::isfinite(before) || !std::isfinite(after)) return "n/a";
  char buf[32];
  std::snprintf(buf, sizeof buf, percent ? "%+.2f pt" : "%+.4f", percent ? 100 * (after - before) : after - before);
  return buf;
}

// ---------------------------------------------------------------------------------------------
// The original data and its split

struct Original {
  bool known = false;
  std::string path;            // as given
  std::string how;             // where its split came from, in words
  data::Dataset dataset;       // classes in the model's order
  data::Split split;
  std::vector<std::string> notes;  // warnings about the split
};

Result<Original> original_data(const FinetuneSettings& s, const LoadedRun& base) {
  Original o;
  std::string path = s.original.empty() ? s.mix : s.original;
  if (!s.original.empty() && !s.mix.empty() && absolute(s.original) != absolute(s.mix))
    return make_error(ErrorCode::kInvalidArgument, "--mix and --original name different data: the mixed-in images must come from the "
                                                   "original training part (give one of them)");
  const std::string run_data = base.exported ? std::string() : base.settings.value("data", std::string());
  const bool own_run_split = !base.exported && (path.empty() || absolute(path) == absolute(run_data));
  if (path.empty()) path = run_data;
  if (path.empty()) return o;  // an exported model and no --original: not measured
  Result<data::Dataset> loaded = data::load_dataset(path);
  if (!loaded) return make_error(loaded.error().code, "the original data " + path + ": " + loaded.error().message);
  o.dataset = loaded.take();
  Result<bool> mapped = to_model_classes(o.dataset, base.spec.classes, "the original data " + path);
  if (!mapped) return mapped.error();
  o.path = path;
  std::string split_path = s.original_split;
  if (split_path.empty() && own_run_split) split_path = (fs::path(base.folder) / "split.csv").string();
  if (!split_path.empty()) {
    Result<data::Split> split = data::read_split_csv(split_path, o.dataset);
    if (!split) return make_error(split.error().code, split_path + ": " + split.error().message);
    o.split = split.take();
    o.how = "the split file " + split_path;
  } else {
    // As `cellcam train` split it: the model's class order, stratified, by group (patient) when given.
    data::SplitOptions options;
    options.seed = s.original_seed;
    if (!base.exported) {
      options.val_fraction = base.settings.value("val_fraction", options.val_fraction);
      options.test_fraction = base.settings.value("test_fraction", options.test_fraction);
    }
    Result<data::Split> split = data::make_split(o.dataset, options);
    if (!split) return make_error(split.error().code, "splitting the original data " + path + ": " + split.error().message);
    o.split = split.take();
    char how[200];
    std::snprintf(how, sizeof how, "reproduced as `cellcam train` splits: seed %llu, val %.2f, test %.2f%s",
                  static_cast<unsigned long long>(options.seed), options.val_fraction, options.test_fraction,
                  o.dataset.has_groups ? ", by group (patient)" : "");
    o.how = how;
    // An exported card records its split's sizes: a reproduced split of other sizes is not the original one.
    const json extra = json::parse(base.card.extra_json, nullptr, false);
    if (base.exported && extra.is_object() && extra.contains("source") && extra["source"].is_object() &&
        extra["source"].contains("split") && extra["source"]["split"].is_object()) {
      const json& recorded = extra["source"]["split"];
      const long long tr = recorded.value("train", -1LL), va = recorded.value("val", -1LL), te = recorded.value("test", -1LL);
      if (tr != static_cast<long long>(o.split.train.size()) || va != static_cast<long long>(o.split.val.size()) ||
          te != static_cast<long long>(o.split.test.size()))
        o.notes.push_back("the reproduced split (" + std::to_string(o.split.train.size()) + "/" + std::to_string(o.split.val.size()) + "/" +
                          std::to_string(o.split.test.size()) + ") differs from the model card's (" + std::to_string(tr) + "/" +
                          std::to_string(va) + "/" + std::to_string(te) + "): other data or seed; its test part may hold training images");
      else
        o.how += "; its sizes match the model card's (" + std::to_string(tr) + "/" + std::to_string(va) + "/" + std::to_string(te) + ")";
    }
  }
  o.known = !o.split.test.empty();
  return o;
}

// review.json of a reviewed set (ZIP or folder), or null.
json review_of(const std::string& data) {
  std::error_code ec;
  fs::path folder = data;
  if (fs::is_regular_file(data, ec)) folder = data::unpacked_folder_for(data);
  Result<json> j = native::read_json_object((folder / "review.json").string());
  return j ? j.take() : json(nullptr);
}

// The base model's identity for the card: name@version and the SHA-256 of what was loaded.
json base_identity(const LoadedRun& base, const std::string& model) {
  json id{{"folder", fs::path(absolute(model)).filename().string()}, {"kind", base.exported ? "model folder" : "run folder"}};
  if (base.exported) {
    id["name"] = base.card.name;
    id["version"] = base.card.version;
    id["onnx_sha256"] = base.card.onnx.sha256;
    id["weights_sha256"] = base.card.weights.sha256;
  } else {
    id["name"] = base.spec.name;
    Result<std::vector<std::uint8_t>> bytes = native::read_file(base.checkpoint_path);
    if (bytes) id["weights_sha256"] = native::sha256_hex(std::string(bytes.value().begin(), bytes.value().end()));
    id["checkpoint"] = fs::path(base.checkpoint_path).filename().string();
  }
  return id;
}

// The name of a reviewed image without the page's NNNNN_ prefix (images/00012_cell.png -> cell.png).
std::string original_name(const std::string& path) {
  std::string name = fs::path(path).filename().string();
  std::size_t digits = 0;
  while (digits < name.size() && std::isdigit(static_cast<unsigned char>(name[digits]))) ++digits;
  if (digits > 0 && digits < name.size() && name[digits] == '_') name = name.substr(digits + 1);
  return name;
}

}  // namespace

TrainSettings finetune_defaults() {
  TrainSettings s;
  s.out = "runs/finetune";
  s.lr = 1e-4;
  s.epochs = 5;
  s.warmup_epochs = 0.0;
  s.schedule = "cosine";
  s.batch_size = 32;
  s.augment = "hflip,vflip,rot90";
  s.patience = 0;
  s.val_fraction = 0.2;
  s.test_fraction = 0.2;
  return s;
}

int run_finetune(const FinetuneSettings& s) {
  if (s.model.empty() || s.train.data.empty())
    return fail(make_error(ErrorCode::kInvalidArgument, "give the model (an exported model folder or a run folder) and the reviewed data"));
  if (!(s.mix_ratio > 0) || !std::isfinite(s.mix_ratio) || s.mix_ratio > 1000)
    return fail(make_error(ErrorCode::kInvalidArgument, "--mix-ratio must be in (0, 1000]"));
  if (!(s.max_drop >= 0) || s.max_drop > 1) return fail(make_error(ErrorCode::kInvalidArgument, "--max-drop must be in [0, 1]"));
  if (is_ensemble_folder(s.model))
    return fail(make_error(ErrorCode::kInvalidArgument, s.model + " is an ensemble: fine-tune its members one by one"));
  Result<bool> valid = validate_settings(s.train);
  if (!valid) return fail(valid.error());
  const std::string out = native::without_trailing_separators(s.train.out);
  Result<bool> free = native::check_output_folder(out, s.train.force, {"config.json", "split.csv", "checkpoints", "finetune.json"},
                                                  "training run", "give --force to delete it and start over");
  if (!free) return fail(free.error());

  // ---- the base model, the reviewed images, the original data
  Result<LoadedRun> loaded = load_run(s.model, "best");
  if (!loaded) return fail(loaded.error());
  LoadedRun base = loaded.take();
  const std::vector<std::string>& classes = base.spec.classes;
  Result<data::Dataset> reviewed_loaded = data::load_dataset(s.train.data);
  if (!reviewed_loaded) return fail(make_error(reviewed_loaded.error().code, s.train.data + ": " + reviewed_loaded.error().message));
  data::Dataset reviewed = reviewed_loaded.take();
  Result<bool> mapped = to_model_classes(reviewed, classes, s.train.data);
  if (!mapped) return fail(mapped.error());
  Result<Original> original_loaded = original_data(s, base);
  if (!original_loaded) return fail(original_loaded.error());
  Original original = original_loaded.take();
  std::vector<std::string> warnings = original.notes;
  if (!original.known)
    warnings.push_back(base.exported ? "the original test split is not known (an exported model keeps no data): pass --original DATA to "
                                       "measure it before and after"
                                     : "the run's original test split is empty: not measured");
  const json review = review_of(s.train.data);
  if (review.is_object() && review.contains("model") && review["model"].is_object() && base.exported) {
    const std::string reviewed_sha = review["model"].value("sha256", std::string());
    if (!reviewed_sha.empty() && reviewed_sha != base.card.onnx.sha256)
      warnings.push_back("the set was reviewed on the predictions of " + review["model"].value("name", std::string("another model")) + "@" +
                         review["model"].value("version", std::string("?")) + " (another SHA-256 than " + s.model + "'s model.onnx)");
  }
  // Reviewed images that share a file name with the original test part may be the same cells.
  if (original.known) {
    std::set<std::string> test_names;
    for (int i : original.split.test) test_names.insert(fs::path(original.dataset.samples[i].path).filename().string());
    int shared = 0;
    for (const data::Sample& r : reviewed.samples) shared += test_names.count(original_name(r.path)) > 0;
    if (shared > 0)
      warnings.push_back(std::to_string(shared) + " reviewed image(s) have the name of an image in the original test split: if they are "
                         "the same cells, the original test figures after fine-tuning are optimistic");
  }

  // ---- the run folder's inputs: data list, base spec, finetune.json
  std::error_code ec;
  if (s.train.force) fs::remove_all(out, ec);
  fs::create_directories(out, ec);
  if (ec) return fail(make_error(ErrorCode::kIo, "cannot create " + out + ": " + ec.message()));
  std::ostringstream csv;
  csv << "path,label,group,source\n";
  for (const data::Sample& r : reviewed.samples)
    csv << data::csv_field(absolute(r.path)) << ',' << data::csv_field(classes[r.label]) << ','
        << data::csv_field(r.group.empty() ? "" : "reviewed/" + r.group) << ",reviewed\n";
  int mixed = 0;
  if (!s.mix.empty()) {
    std::vector<int> pool = original.split.train;  // never a validation or test image of the original split
    std::mt19937_64 rng(s.train.seed);
    for (std::size_t i = pool.size(); i > 1; --i) std::swap(pool[i - 1], pool[rng() % i]);
    const std::size_t want = std::min(pool.size(), static_cast<std::size_t>(std::llround(s.mix_ratio * reviewed.samples.size())));
    pool.resize(want);
    std::sort(pool.begin(), pool.end());
    for (int i : pool) {
      const data::Sample& o = original.dataset.samples[i];
      csv << data::csv_field(absolute(o.path)) << ',' << data::csv_field(classes[o.label]) << ','
          << data::csv_field(o.group.empty() ? "" : "original/" + o.group) << ",original\n";
    }
    mixed = static_cast<int>(want);
  }
  const std::string data_csv = absolute((fs::path(out) / "finetune_data.csv").string());
  const std::string spec_json = absolute((fs::path(out) / "base_spec.json").string());
  ModelSpec spec = base.spec;
  spec.name = fs::path(absolute(out)).filename().string();
  json info{{"base_model", base_identity(base, s.model)},
            {"reviewed_set", {{"data", fs::path(absolute(s.train.data)).filename().string()}, {"images", reviewed.samples.size()},
                              {"review", review}}},
            {"mix", s.mix.empty() ? json(nullptr)
                                  : json{{"data", fs::path(absolute(s.mix)).filename().string()}, {"images", mixed},
                                         {"ratio", s.mix_ratio}, {"from", "the original split's training part only"}}},
            {"original_test", original.known ? json{{"data", fs::path(absolute(original.path)).filename().string()},
                                                    {"images", original.split.test.size()}, {"split", original.how}}
                                             : json(nullptr)},
            {"held_out", std::string("the reviewed set's test part (") + (reviewed.has_groups ? "split by group where the manifest gives one, "
                                                                                                 "an image without one on its own"
                                                                                               : "split image by image") + ")"},
            {"threshold", base.spec.head != HeadKind::kBinary ? json(nullptr)
                          : s.rethreshold ? json("chosen on the fine-tuning's validation part")
                                          : json("the base model's, kept (moved to temperature 1)")},
            {"settings", {{"lr", s.train.lr}, {"epochs", s.train.epochs}, {"optimizer", s.train.optimizer}, {"augment", s.train.augment}}},
            {"max_drop", s.max_drop},
            {"warnings", warnings}};
  Result<bool> written = native::write_text_atomically(data_csv, csv.str());
  if (written) written = native::write_text_atomically(spec_json, model_spec_to_json(spec) + "\n");
  if (written) written = native::write_text_atomically((fs::path(out) / "finetune.json").string(), info.dump(2) + "\n");
  if (!written) return fail(written.error());
  std::fprintf(stderr, "cellcam finetune: %s (%s) on %zu reviewed images%s; lr %g, %d epochs\n", s.model.c_str(),
               base.exported ? (base.card.name + "@" + base.card.version).c_str() : "run folder", reviewed.samples.size(),
               mixed > 0 ? (" + " + std::to_string(mixed) + " original training images").c_str() : "", s.train.lr, s.train.epochs);
  for (const std::string& w : warnings) std::fprintf(stderr, "cellcam finetune: warning: %s\n", w.c_str());

  // ---- the ordinary trainer, from the base model's spec and weights
  TrainSettings t = s.train;
  t.out = out;
  t.data = data_csv;
  t.spec = spec_json;
  t.init_from = base.checkpoint_path;
  t.classes = classes;
  t.base_model = s.model;
  t.positive_class.clear();
  t.stain_norm = false;  // the base spec carries its stain targets
  t.force = false;
  t.folds = 0;
  // The base threshold is at the base's temperature; the new run's probabilities are at T = 1.
  if (base.spec.head == HeadKind::kBinary && !s.rethreshold) t.fixed_threshold = threshold_at(base.threshold, 1.0 / base.temperature);
  const int trained = run_train(t);
  if (trained != 0) return trained;

  // ---- before / after on the same images
  Result<LoadedRun> after_loaded = load_run(out, "best");
  if (!after_loaded) return fail(after_loaded.error());
  LoadedRun after = after_loaded.take();
  const int threads = std::max(1, t.threads);
  Result<data::Dataset> run_data = data::load_dataset(data_csv);
  if (!run_data) return fail(run_data.error());
  data::Dataset held = run_data.take();
  mapped = to_model_classes(held, classes, data_csv);
  if (!mapped) return fail(mapped.error());
  Result<data::Split> run_split = data::read_split_csv((fs::path(out) / "split.csv").string(), held);
  if (!run_split) return fail(run_split.error());
  std::vector<int> held_out;
  for (int i : run_split.value().test)
    if (held.samples[i].group.rfind("original/", 0) != 0 &&
        std::find_if(reviewed.samples.begin(), reviewed.samples.end(),
                     [&](const data::Sample& r) { return absolute(r.path) == held.samples[i].path; }) != reviewed.samples.end())
      held_out.push_back(i);

  struct Row {
    std::string name;
    Score before, after;
  };
  std::vector<Row> rows;
  if (original.known)
    rows.push_back({"original test split", score(base, original.dataset, original.split.test, threads),
                    score(after, original.dataset, original.split.test, threads)});
  rows.push_back({"reviewed set, held out", score(base, held, held_out, threads), score(after, held, held_out, threads)});

  json table = json::array();
  std::ostringstream md;
  md << "\n## Fine-tuning: before / after\n\nBase model `" << s.model << "`; fine-tuned on " << reviewed.samples.size()
     << " reviewed images" << (mixed > 0 ? " and " + std::to_string(mixed) + " original training images" : std::string()) << ".\n"
     << "Held out: " << info["held_out"].get<std::string>() << ".\n";
  if (original.known) md << "Original test split: " << original.how << ".\n";
  md << "\n| images | n | accuracy before | after | change | ROC-AUC before | after | macro F1 before | after |\n"
        "|---|---|---|---|---|---|---|---|---|\n";
  std::fprintf(stderr, "\n%-24s %6s  %-17s %-17s %-10s  %-15s %-15s\n", "before / after", "images", "accuracy before", "accuracy after",
               "change", "ROC-AUC before", "ROC-AUC after");
  for (const Row& r : rows) {
    const int n = std::max(r.before.images, r.after.images);
    std::fprintf(stderr, "%-24s %6d  %-17s %-17s %-10s  %-15s %-15s\n", r.name.c_str(), n, cell(r.before.accuracy, true).c_str(),
                 cell(r.after.accuracy, true).c_str(), delta(r.before.accuracy, r.after.accuracy, true).c_str(),
                 cell(r.before.roc_auc, false).c_str(), cell(r.after.roc_auc, false).c_str());
    md << "| " << r.name << " | " << n << " | " << cell(r.before.accuracy, true) << " | " << cell(r.after.accuracy, true) << " | "
       << delta(r.before.accuracy, r.after.accuracy, true) << " | " << cell(r.before.roc_auc, false) << " | "
       << cell(r.after.roc_auc, false) << " | " << cell(r.before.macro_f1, false) << " | " << cell(r.after.macro_f1, false) << " |\n";
    table.push_back({{"images", r.name}, {"n", n},
                     {"before", {{"accuracy", number_or_null(r.before.accuracy)}, {"roc_auc", number_or_null(r.before.roc_auc)},
                                 {"macro_f1", number_or_null(r.before.macro_f1)}, {"metrics", r.before.metrics}}},
                     {"after", {{"accuracy", number_or_null(r.after.accuracy)}, {"roc_auc", number_or_null(r.after.roc_auc)},
                                {"macro_f1", number_or_null(r.after.macro_f1)}, {"metrics", r.after.metrics}}}});
  }
  if (held_out.empty()) {
    const std::string w = "no reviewed image is in the held-out part (too few images): the reviewed set's after-figures are n/a";
    warnings.push_back(w);
    std::fprintf(stderr, "cellcam finetune: warning: %s\n", w.c_str());
  }
  bool degraded = false;
  if (original.known && rows.front().before.measured && rows.front().after.measured) {
    const double drop = rows.front().before.accuracy - rows.front().after.accuracy;
    degraded = drop > s.max_drop;
    if (degraded) {
      char w[300];
      std::snprintf(w, sizeof w, "the original test accuracy fell by %.2f points (more than --max-drop %.2f): this model is worse where the "
                                 "base was measured; `cellcam export` refuses it without --accept-drop",
                    100 * drop, 100 * s.max_drop);
      warnings.push_back(w);
      std::fprintf(stderr, "cellcam finetune: warning: %s\n", w);
    }
  } else if (!original.known) {
    md << "\nThe original test split was not measured (" << (base.exported ? "pass --original DATA" : "empty") << ").\n";
  }
  for (const std::string& w : warnings) md << "\n- warning: " << w;
  md << "\n";

  info["before_after"] = table;
  info["degraded"] = degraded;
  info["warnings"] = warnings;
  written = native::write_text_atomically((fs::path(out) / "finetune.json").string(), info.dump(2) + "\n");
  Result<json> report = native::read_json_object((fs::path(out) / "report.json").string());
  if (written && report) {
    json r = report.take();
    r["finetune"] = info;
    written = native::write_text_atomically((fs::path(out) / "report.json").string(), r.dump(2) + "\n");
  }
  Result<std::string> report_md = native::read_text((fs::path(out) / "report.md").string());
  if (written && report_md) written = native::write_text_atomically((fs::path(out) / "report.md").string(), report_md.value() + md.str());
  if (!written) return fail(written.error());
  std::fprintf(stderr, "cellcam finetune: %s (report.md, finetune.json); export with `cellcam export %s --out models/NAME`\n", out.c_str(),
               out.c_str());
  return 0;  // a degraded run is kept and said so; `cellcam export` is where it is refused
}

}  // namespace cellcam::train
