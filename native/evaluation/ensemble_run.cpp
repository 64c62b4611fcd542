// ensemble_run.cpp — see ensemble_run.h. LibTorch only runs the members (predict_store); the combining,
// fitting and referral are the torch-free ensemble.h and calibration.h, which the page mirrors.
#include "ensemble_run.h"

#include "cellcam/model_card.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "calibration.h"
#include "ensemble.h"
#include "file_io.h"
#include "metrics.h"
#include "metrics_json.h"
#include "plot.h"
#include "predictions.h"
#include "runtime.h"
#include "scored_data.h"
#include "split.h"
#include "trained_model.h"

namespace cellcam::train {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr int kFolds = 5;  // stacking's out-of-fold validation predictions

int fail(const Error& e) {
  std::fprintf(stderr, "cellcam ensemble: %s\n", e.message.c_str());
  return 1;
}

struct Member {
  std::string folder;
  std::string name;
  LoadedRun run;
  ProbabilityTable val, test;  // (N,K) at the member's temperature
};

// One combination's (or member's) predictions and how it decides.
struct Scored {
  std::string name;
  ProbabilityTable val, test;
  double threshold = 0.5;
  std::string threshold_source;
};

double mean_log_loss(const ProbabilityTable& p, const std::vector<int>& labels) {
  double s = 0.0;
  for (std::size_t i = 0; i < p.size(); ++i) s -= std::log(std::max(1e-7, static_cast<double>(p[i][static_cast<std::size_t>(labels[i])])));
  return p.empty() ? 0.0 : s / static_cast<double>(p.size());
}

Result<double> validation_threshold(const ProbabilityTable& val, const std::vector<int>& labels) {
  std::vector<float> scores;
  for (const std::vector<float>& row : val) scores.push_back(row[1]);
  Result<OperatingPoint> op = youden_threshold(scores, labels);
  if (!op) return op.error();
  return op.value().threshold;
}

// The member's predictions on one part; the images every member could read, in sample order.
Result<Predictions> predict_part(Member& m, const ScoredData& part, const EnsembleSettings& s, int threads) {
  std::vector<data::Skipped> skipped;
  Result<ImageStore> store = ImageStore::build(part.dataset, part.samples, m.run.spec.preprocess, threads,
                                               static_cast<std::size_t>(4.0 * (1ull << 30)), &skipped);
  if (!store) return store.error();
  for (const data::Skipped& k : skipped) std::fprintf(stderr, "%s: skipped: %s\n", k.path.c_str(), k.reason.c_str());
  return predict_store(m.run.net, store.value(), store.value().usable(), s.batch_size, m.run.device, s.tta, m.run.temperature);
}

json metrics_entry(const Scored& c, const std::vector<int>& labels, const std::vector<std::string>& classes, bool binary, int resamples) {
  Result<Metrics> m = compute_metrics(c.test, labels, c.threshold);
  const double log_loss = mean_log_loss(c.test, labels);  // "loss" in metrics_json's schema, "log_loss" beside ECE
  json j = m ? metrics_json(m.value(), classes, log_loss) : json{{"error", m.error().message}};
  j["name"] = c.name;
  if (binary) j["threshold"] = {{"value", c.threshold}, {"source", c.threshold_source}};
  Result<BootstrapIntervals> ci = bootstrap_intervals(c.test, labels, c.threshold, resamples, /*seed=*/42);
  if (ci) {
    j["ci95"] = {{"accuracy", {ci.value().accuracy.lo, ci.value().accuracy.hi}}, {"roc_auc", {ci.value().roc_auc.lo, ci.value().roc_auc.hi}},
                 {"macro_f1", {ci.value().macro_f1.lo, ci.value().macro_f1.hi}}};
  }
  Result<Calibration> cal = calibration(c.test, labels, 15);
  if (cal) j["ece"] = cal.value().ece;
  j["log_loss"] = log_loss;
  return j;
}

std::string pct(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.2f%%", 100.0 * v);
  return b;
}

int ensemble_impl(const EnsembleSettings& s) {
  if (s.members.size() < 2) return fail(make_error(ErrorCode::kInvalidArgument, "an ensemble needs at least two members"));
  if (s.out.empty()) return fail(make_error(ErrorCode::kInvalidArgument, "--out is required"));
  if (s.method != "soft" && s.method != "stacking" && s.method != "auto")
    return fail(make_error(ErrorCode::kInvalidArgument, "--method is auto, soft or stacking, not " + s.method));
  // Before any member is scored (minutes), not after.
  if (Result<std::vector<double>> w = normalised_weights(s.weights, s.members.size()); !w)
    return fail(make_error(ErrorCode::kInvalidArgument, "--weights: " + w.error().message));
  const int threads = native::configure_torch_threads(s.threads);

  // ---- the members, which must agree on the classes and the head
  std::vector<Member> members;
  for (const std::string& folder : s.members) {
    Result<LoadedRun> r = load_run(folder, "best");
    if (!r) return fail(r.error());
    Member m;
    m.folder = folder;
    m.name = fs::path(folder).lexically_normal().filename().string();
    if (m.name.empty() || m.name == ".") m.name = fs::path(folder).lexically_normal().parent_path().filename().string();
    m.run = r.take();
    if (!members.empty() && (m.run.spec.classes != members[0].run.spec.classes || m.run.spec.head != members[0].run.spec.head))
      return fail(make_error(ErrorCode::kInvalidArgument, folder + " has other classes or another head than " + members[0].folder));
    members.push_back(std::move(m));
  }
  const std::vector<std::string>& classes = members[0].run.spec.classes;
  const bool binary = members[0].run.spec.head == HeadKind::kBinary;

  // ---- the data and its split: given, or the first run member's
  std::string data = s.data;
  std::string split = s.split;
  for (const Member& m : members) {
    if (m.run.exported) continue;
    if (data.empty()) data = m.run.settings.value("data", std::string());
    if (split.empty()) split = (fs::path(m.folder) / "split.csv").string();
    break;
  }
  if (data.empty() || split.empty())
    return fail(make_error(ErrorCode::kInvalidArgument, "no run folder among the members to take the data and split from: "
                                                        "pass --data and --split (`cellcam split` writes one)"));
  Result<ScoredData> val_part = scored_data(members[0].run, members[0].folder, data, "val", split);
  if (!val_part) return fail(val_part.error());
  Result<ScoredData> test_part = scored_data(members[0].run, members[0].folder, data, "test", split);
  if (!test_part) return fail(test_part.error());
  // No member may have trained on what the ensemble fits on or is scored on.
  std::set<std::string> held_out;
  for (int i : val_part.value().samples) held_out.insert(val_part.value().dataset.samples[static_cast<std::size_t>(i)].path);
  for (int i : test_part.value().samples) held_out.insert(test_part.value().dataset.samples[static_cast<std::size_t>(i)].path);
  json split_checks = json::array();
  for (const Member& m : members) {
    if (m.run.exported) {
      split_checks.push_back({{"member", m.name}, {"checked", false}, {"why", "an exported model folder keeps no split"}});
      continue;
    }
    Result<data::Split> own = data::read_split_csv((fs::path(m.folder) / "split.csv").string(), val_part.value().dataset);
    if (!own) return fail(make_error(own.error().code, m.folder + "/split.csv against " + data + ": " + own.error().message));
    int overlap = 0;
    for (int i : own.value().train) overlap += held_out.count(val_part.value().dataset.samples[static_cast<std::size_t>(i)].path) ? 1 : 0;
    if (overlap > 0)
      return fail(make_error(ErrorCode::kInvalidArgument, m.folder + " trained on " + std::to_string(overlap) +
                                                              " images of the ensemble's validation or test part: its scores there are not held out"));
    split_checks.push_back({{"member", m.name}, {"checked", true}, {"training_images_in_val_or_test", 0}});
  }

  // ---- every member on both parts
  std::vector<int> val_labels, test_labels, val_samples, test_samples;
  for (std::size_t k = 0; k < members.size(); ++k) {
    Member& m = members[k];
    std::printf("cellcam ensemble: scoring %s (%zu validation, %zu test images)%s\n", m.folder.c_str(), val_part.value().samples.size(),
                test_part.value().samples.size(), s.tta ? " with TTA" : "");
    std::fflush(stdout);
    Result<Predictions> v = predict_part(m, val_part.value(), s, threads);
    if (!v) return fail(v.error());
    Result<Predictions> t = predict_part(m, test_part.value(), s, threads);
    if (!t) return fail(t.error());
    if (k == 0) {
      val_labels = v.value().labels;
      test_labels = t.value().labels;
      val_samples = v.value().samples;
      test_samples = t.value().samples;
    } else if (v.value().samples != val_samples || t.value().samples != test_samples) {
      return fail(make_error(ErrorCode::kInvalidArgument, m.folder + " could read other images than " + members[0].folder));
    }
    m.val = v.value().probs;
    m.test = t.value().probs;
  }
  std::vector<ProbabilityTable> member_val, member_test;
  for (const Member& m : members) {
    member_val.push_back(m.val);
    member_test.push_back(m.test);
  }

  // ---- the combinations, fitted on validation
  std::vector<Scored> scored;
  for (const Member& m : members)
    scored.push_back({m.name, m.val, m.test, binary ? m.run.threshold : 0.5, binary ? m.run.threshold_source : ""});
  Result<ProbabilityTable> soft_val = soft_vote(member_val, s.weights);
  if (!soft_val) return fail(soft_val.error());  // e.g. negative --weights
  Scored soft{"soft voting", soft_val.take(), soft_vote(member_test, s.weights).take(), 0.5, ""};
  // Stacking: the final meta-model on all of validation; its threshold from out-of-fold predictions.
  Result<StackingModel> stacking = fit_stacking(member_val, val_labels, binary);
  if (!stacking) return fail(stacking.error());
  ProbabilityTable out_of_fold(val_labels.size());
  for (int fold = 0; fold < kFolds; ++fold) {
    std::vector<ProbabilityTable> fit_on(members.size()), held(members.size());
    std::vector<int> fit_labels;
    std::vector<std::size_t> held_rows;
    for (std::size_t i = 0; i < val_labels.size(); ++i) {
      const bool in_fold = static_cast<int>(i % kFolds) == fold;
      for (std::size_t m = 0; m < members.size(); ++m) (in_fold ? held : fit_on)[m].push_back(member_val[m][i]);
      if (in_fold) held_rows.push_back(i);
      else fit_labels.push_back(val_labels[i]);
    }
    if (held_rows.empty()) continue;
    Result<StackingModel> f = fit_stacking(fit_on, fit_labels, binary);
    if (!f) return fail(f.error());
    const ProbabilityTable p = apply_stacking(f.value(), held).take();
    for (std::size_t r = 0; r < held_rows.size(); ++r) out_of_fold[held_rows[r]] = p[r];
  }
  Scored stacked{"stacking", out_of_fold, apply_stacking(stacking.value(), member_test).take(), 0.5, ""};
  if (binary) {
    for (Scored* c : {&soft, &stacked}) {
      Result<double> t = validation_threshold(c->val, val_labels);
      if (!t) return fail(t.error());
      c->threshold = t.value();
      c->threshold_source = c == &soft ? "Youden's J on validation" : "Youden's J on out-of-fold validation predictions";
    }
  }
  scored.push_back(soft);
  scored.push_back(stacked);

  // ---- the report: every member and combination on the same test images
  json report{{"members", json::array()}, {"data", data}, {"split", split}, {"tta", s.tta},
              {"counts", {{"val", val_labels.size()}, {"test", test_labels.size()}}}, {"split_checks", split_checks}};
  for (const Member& m : members)
    report["members"].push_back({{"folder", m.folder}, {"name", m.name}, {"temperature", m.run.temperature},
                                 {"checkpoint", m.run.checkpoint_path}});
  json results = json::array();
  for (const Scored& c : scored) {
    json j = metrics_entry(c, test_labels, classes, binary, s.bootstrap);
    j["val_log_loss"] = mean_log_loss(c.val, val_labels);
    results.push_back(j);
  }
  report["results"] = results;
  std::vector<double> vote_weights = s.weights.empty() ? std::vector<double>(members.size(), 1.0) : s.weights;
  double weight_sum = 0.0;
  for (double w : vote_weights) weight_sum += w;
  for (double& w : vote_weights) w /= weight_sum;  // as soft_vote applies them (checked there: > 0)
  report["soft_voting"] = {{"weights", vote_weights}};
  report["stacking"] = {{"features", binary ? "logit of each member's P(" + classes[1] + ")" : std::string("log of each member's class probabilities")},
                        {"weights", stacking.value().weights}, {"intercepts", stacking.value().intercepts},
                        {"l2", stacking.value().l2}, {"iterations", stacking.value().iterations},
                        {"converged", stacking.value().converged}, {"fitted_on", "val"}, {"out_of_fold_folds", kFolds}};

  // ---- referral for the exported combination: by its probability margin or by the members' disagreement,
  // whichever reaches the target accuracy on validation referring fewer images.
  // auto: the lower validation log-loss (stacking's out of fold, so neither has seen the images it is judged on).
  const std::string method = s.method != "auto" ? s.method
                             : mean_log_loss(stacked.val, val_labels) < mean_log_loss(soft.val, val_labels) ? "stacking" : "soft";
  const Scored& chosen = method == "soft" ? soft : stacked;
  const std::vector<double> dis_val = disagreement(member_val, s.weights).take();
  const std::vector<double> dis_test = disagreement(member_test, s.weights).take();
  std::vector<double> margin_val, margin_test;
  for (const auto& row : chosen.val) margin_val.push_back(uncertainty(row, chosen.threshold, binary));
  for (const auto& row : chosen.test) margin_test.push_back(uncertainty(row, chosen.threshold, binary));
  const std::vector<int> correct_val = correct_decisions(chosen.val, val_labels, chosen.threshold);
  const std::vector<int> correct_test = correct_decisions(chosen.test, test_labels, chosen.threshold);
  const ReferralCutoff by_margin = choose_referral_cutoff(margin_val, correct_val, s.target_accuracy, s.max_referral).take();
  const ReferralCutoff by_dis = choose_referral_cutoff(dis_val, correct_val, s.target_accuracy, s.max_referral).take();
  const bool use_disagreement = (by_dis.reached && (!by_margin.reached || by_dis.referred_share < by_margin.referred_share)) ||
                                (!by_dis.reached && !by_margin.reached && by_dis.kept_accuracy > by_margin.kept_accuracy);
  const ReferralCutoff rule = use_disagreement ? by_dis : by_margin;
  const ReferralCutoff on_test = apply_referral_cutoff(use_disagreement ? dis_test : margin_test, correct_test, rule.cutoff);
  const ReviewBand band = band_for_cutoff(std::min(1.0, rule.cutoff), chosen.threshold, binary);
  report["referral"] = {
      {"method", method},
      {"method_asked", s.method},
      {"score", use_disagreement ? "disagreement" : "margin"},
      {"cutoff", rule.cutoff},
      {"candidates", {{"margin", {{"cutoff", by_margin.cutoff}, {"val_referred_share", by_margin.referred_share}, {"val_kept_accuracy", by_margin.kept_accuracy}, {"reached", by_margin.reached}}},
                      {"disagreement", {{"cutoff", by_dis.cutoff}, {"val_referred_share", by_dis.referred_share}, {"val_kept_accuracy", by_dis.kept_accuracy}, {"reached", by_dis.reached}}}}},
      {"target_accuracy", s.target_accuracy}, {"max_referral", s.max_referral},
      {"test", {{"referred_share", on_test.referred_share}, {"kept_accuracy", on_test.kept_accuracy}}}};
  std::vector<cellcam::report::Series> referral_curves;
  for (const auto& [label, scores] : std::vector<std::pair<std::string, const std::vector<double>*>>{
           {"margin (" + method + ")", &margin_test}, {"member disagreement", &dis_test}}) {
    cellcam::report::Series series;
    series.label = label;
    for (const auto& [rate, accuracy] : referral_curve_by_score(*scores, correct_test)) {
      series.x.push_back(rate);
      series.y.push_back(accuracy);
    }
    report["referral"]["curves"][label] = {{"referred", series.x}, {"accuracy", series.y}};
    referral_curves.push_back(series);
  }

  // ---- files
  const fs::path out(s.out);
  std::error_code ec;
  fs::create_directories(out, ec);
  if (ec) return fail(make_error(ErrorCode::kIo, "cannot create " + out.string() + ": " + ec.message()));
  std::ostringstream md;
  md << "# Ensemble of " << members.size() << " models\n\nTest part of `" << split << "` (" << test_labels.size()
     << " images); thresholds, stacking and referral fitted on its validation part (" << val_labels.size() << " images)"
     << (s.tta ? "; every member with test-time augmentation (8 flips/rotations)" : "") << ".\n\n"
     << "| model | accuracy (95% CI) | ROC-AUC | macro F1 | ECE | log-loss |\n|---|---|---|---|---|---|\n";
  for (const json& j : results) {
    char row[256];
    const double lo = j.contains("ci95") ? j["ci95"]["accuracy"][0].get<double>() : NAN;
    const double hi = j.contains("ci95") ? j["ci95"]["accuracy"][1].get<double>() : NAN;
    std::snprintf(row, sizeof row, "| %s | %.2f%% (%.1f–%.1f) | %.4f | %.4f | %.4f | %.4f |\n", j["name"].get<std::string>().c_str(),
                  100 * j.value("accuracy", 0.0), 100 * lo, 100 * hi, j.value("roc_auc", NAN), j["macro"].value("f1", NAN),
                  j.value("ece", NAN), j.value("log_loss", NAN));
    md << row;
  }
  md << "\nExported combination: " << method << (s.method == "auto" ? " (lower validation log-loss)" : "") << ".\n";
  md << "\nReferral (" << method << "): by " << (use_disagreement ? "member disagreement" : "probability margin") << ", cutoff "
     << rule.cutoff << " chosen on validation (target " << pct(s.target_accuracy) << ", at most " << pct(s.max_referral)
     << " referred): refers " << pct(on_test.referred_share) << " of test, " << pct(on_test.kept_accuracy) << " accurate on the rest.\n";
  Result<bool> written = native::write_text_atomically((out / "ensemble.json").string(), report.dump(2) + "\n");
  if (written) written = native::write_text_atomically((out / "report.md").string(), md.str());
  if (!written) return fail(written.error());
  std::vector<Result<bool>> drawn;
  if (binary) {
    std::vector<cellcam::report::Series> rocs;
    for (const Scored& c : scored) {
      Predictions p;
      p.probs = c.test;
      p.labels = test_labels;
      for (auto& series : roc_series(p, classes, c.name)) rocs.push_back(series);
    }
    drawn.push_back(cellcam::report::plot_roc((out / "roc.png").string(), rocs));
  }
  drawn.push_back(cellcam::report::plot_referral((out / "referral.png").string(), referral_curves));
  for (const Result<bool>& d : drawn)
    if (!d) std::fprintf(stderr, "cellcam ensemble: plot not drawn: %s\n", d.error().message.c_str());

  // ---- the page's folder: the members' ONNX files and one model.json
  std::string not_exported;
  for (const Member& m : members)
    if (!m.run.exported || !fs::exists(fs::path(m.folder) / "model.onnx")) not_exported = m.folder + " is not an exported model folder";
  // Each member's card, as `cellcam export` wrote it and load_run read it (cellcam/model_card.h).
  if (not_exported.empty())
    for (const Member& m : members)
      if (preprocess_spec_to_json(m.run.card.preprocess) != preprocess_spec_to_json(members[0].run.card.preprocess)) {
        not_exported = m.folder + " preprocesses differently from " + members[0].folder + " (the page feeds its members one tensor)";
        break;
      }
  if (not_exported.empty()) {
    fs::create_directories(out / "members", ec);
    json list = json::array();
    for (std::size_t k = 0; k < members.size(); ++k) {
      // Each member stays a whole model folder (the page reads its ONNX file, `cellcam predict` its weights).
      const fs::path dir = out / "members" / std::to_string(k);
      const std::string file = "members/" + std::to_string(k) + "/model.onnx";
      fs::create_directories(dir, ec);
      for (const char* name : {"model.onnx", "model.json", "weights.pt"}) {
        if (!ec) fs::copy_file(fs::path(members[k].folder) / name, dir / name, fs::copy_options::overwrite_existing, ec);
        if (ec) return fail(make_error(ErrorCode::kIo, "cannot copy " + members[k].folder + "/" + name + ": " + ec.message()));
      }
      const ModelCard& card = members[k].run.card;
      json onnx = json::parse(card.onnx.extra_json);
      onnx["file"] = file;
      onnx["sha256"] = card.onnx.sha256;
      onnx["bytes"] = card.onnx.bytes;
      json cam = nullptr;
      if (card.cam.present())
        cam = {{"width", card.cam.width}, {"height", card.cam.height}, {"layer", card.cam.layer}, {"method", card.cam.method}};
      list.push_back({{"name", members[k].name}, {"version", card.version}, {"onnx", onnx},
                      {"cam", cam}, {"temperature", members[k].run.temperature},
                      {"weight", report["soft_voting"]["weights"][k]}});
    }
    json model{{"name", s.name}, {"version", s.version}, {"classes", classes}, {"head", binary ? "binary" : "multiclass"},
               {"preprocess", json::parse(preprocess_spec_to_json(members[0].run.card.preprocess))},
               {"input", json::parse(members[0].run.card.extra_json).value("input", json(nullptr))},
               {"ensemble", {{"method", method}, {"members", list}, {"tta", s.tta},
                             {"stacking", {{"weights", stacking.value().weights}, {"intercepts", stacking.value().intercepts},
                                           {"features", binary ? "logit" : "log"}, {"clamp", 1e-6}}},
                             {"cam", "the weighted mean of the members' maps, each resampled to the finest member grid and "
                                     "scaled to a maximum of 1 (soft-voting weights)"},
                             {"review", {{"score", use_disagreement ? "disagreement" : "margin"}, {"cutoff", rule.cutoff}}}}},
               {"tta", {{"default", s.tta}, {"views", "the 8 flips/rotations (4 flips when not square)"},
                        {"note", s.tta ? "the ensemble was scored with it" : ""}}},
               {"metrics", results[members.size() + (method == "soft" ? 0 : 1)]},
               {"comparison", results}};
    if (binary) {
      model["positive_class"] = classes[1];
      model["threshold"] = chosen.threshold;
      model["threshold_source"] = chosen.threshold_source;
    }
    if (!use_disagreement) {
      model["review_band"] = {band.lo, band.hi};
      model["review_band_source"] = "chosen on validation: " + pct(s.target_accuracy) + " accuracy on the rest, referring at most " + pct(s.max_referral);
    }
    // Through the one reader and writer of model.json (cellcam/model_card.h): checked, then written canonically.
    model["schema_version"] = kModelCardSchema;
    Result<ModelCard> card = parse_model_card(model.dump());
    if (!card) return fail(card.error());
    written = native::write_text_atomically((out / "model.json").string(), model_card_to_json(card.value()));
    if (!written) return fail(written.error());
  }

  std::printf("\n%s", md.str().c_str());
  if (not_exported.empty()) std::printf("\nwritten: %s/{ensemble.json,report.md,model.json,members/}: the page and `cellcam predict` run this folder\n", s.out.c_str());
  else std::printf("\nwritten: %s/{ensemble.json,report.md}; no model.json for the page: %s\n", s.out.c_str(), not_exported.c_str());
  return 0;
}

}  // namespace

int run_ensemble(const EnsembleSettings& settings) {
  try {
    return ensemble_impl(settings);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cellcam ensemble: %s\n", native::first_line(e.what()).c_str());
    return 1;
  }
}

}  // namespace cellcam::train
