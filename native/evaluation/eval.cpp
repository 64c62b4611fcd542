// eval.cpp — see eval.h.
//
// The numbers must match the training report: eval reads images through the same ImageStore and
// predict_store as the trainer's test pass. A binary decision is `P(classes[1]) >= threshold` (as
// compute_metrics), a multi-class one the argmax (lowest index on ties).
// Nothing here throws past run_eval: LibTorch's exceptions are caught and reported there.
#include "eval.h"

#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "calibration.h"
#include "command_output.h"
#include "dataset.h"
#include "file_io.h"
#include "image_store.h"
#include "metrics.h"
#include "metrics_json.h"
#include "plot.h"
#include "predictions.h"
#include "runtime.h"
#include "scored_data.h"
#include "trained_model.h"

namespace cellcam::train {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

int eval_impl(const EvalSettings& s) {
  const char* cmd = "eval";
  if (s.batch_size < 1) return fail(cmd, make_error(ErrorCode::kInvalidArgument, "--batch-size must be at least 1"));
  const int threads = native::configure_torch_threads(s.threads);
  Result<LoadedRun> loaded = load_run(s.run, s.checkpoint);
  if (!loaded) return fail(cmd, loaded.error());
  LoadedRun& r = loaded.value();
  const std::vector<std::string>& classes = r.spec.classes;
  const bool binary = r.spec.head == HeadKind::kBinary;

  // ---- which images: all of --data, or the run's own test split
  Result<ScoredData> scored = scored_data(r, s.run, s.data, s.part, s.split);
  if (!scored) return fail(cmd, scored.error());
  const bool own_split = scored.value().own_split;
  const std::string& data_path = scored.value().path;
  const std::vector<int>& samples = scored.value().samples;
  const data::Dataset& dataset = scored.value().dataset;

  // ---- decode, predict, score
  std::vector<data::Skipped> skipped = own_split ? std::vector<data::Skipped>{} : dataset.skipped;
  const double cache_gb = r.settings.value("cache_gb", 4.0);
  Result<ImageStore> store = ImageStore::build(dataset, samples, r.spec.preprocess, threads,
                                               static_cast<std::size_t>(cache_gb * (1ull << 30)), &skipped);
  if (!store) return fail(cmd, store.error());
  for (const data::Skipped& k : skipped) std::fprintf(stderr, "%s: skipped: %s\n", k.path.c_str(), k.reason.c_str());
  const Predictions p = predict_store(r.net, store.value(), store.value().usable(), s.batch_size, r.device, s.tta, r.temperature);
  Result<Metrics> metrics = compute_metrics(p.probs, p.labels, r.threshold);
  if (!metrics) return fail(cmd, metrics.error());
  const Metrics& m = metrics.value();

  // ---- eval.json and the per-image predictions
  json report = metrics_json(m, classes, p.loss);
  report["run"] = s.run;
  report["checkpoint"] = {{"name", s.checkpoint}, {"path", r.checkpoint_path}, {"epoch", r.checkpoint_epoch}};
  report["data"] = {{"path", data_path}, {"part", own_split ? s.part : "all"}, {"split", scored.value().split_path}};
  report["tta"] = s.tta;
  report["temperature"] = r.temperature;
  report["threshold"] = binary ? json{{"value", r.threshold}, {"source", r.threshold_source}} : json(nullptr);
  json per_class = json::object();
  for (const std::string& c : classes) per_class[c] = 0;
  for (int label : p.labels) per_class[classes[label]] = per_class[classes[label]].get<int>() + 1;
  report["counts"] = {{"listed", samples.size()}, {"evaluated", p.labels.size()}, {"skipped", skipped.size()},
                      {"per_class", per_class}};
  json skipped_json = json::array();
  for (const data::Skipped& k : skipped) skipped_json.push_back({{"path", k.path}, {"reason", k.reason}});
  report["skipped"] = skipped_json;
  // How far to trust these numbers: 95% bootstrap intervals, and how calibrated the probabilities are.
  Result<BootstrapIntervals> ci = bootstrap_intervals(p.probs, p.labels, r.threshold, s.bootstrap, /*seed=*/42);
  auto interval = [](const Interval& i) { return json::array({i.lo, i.hi}); };
  if (ci) {
    report["ci95"] = {{"method", "percentile bootstrap over images"}, {"resamples", ci.value().resamples},
                      {"accuracy", interval(ci.value().accuracy)}, {"roc_auc", interval(ci.value().roc_auc)},
                      {"macro_f1", interval(ci.value().macro_f1)}};
    if (binary) {
      report["ci95"]["sensitivity"] = interval(ci.value().sensitivity);
      report["ci95"]["specificity"] = interval(ci.value().specificity);
    }
  }
  Result<Calibration> cal = calibration(p.probs, p.labels, 15);
  cellcam::report::Series reliability;
  if (cal) {
    json bins = json::array();
    for (const CalibrationBin& b : cal.value().bins)
      bins.push_back({{"lo", b.lo}, {"hi", b.hi}, {"count", b.count}, {"confidence", b.confidence}, {"accuracy", b.accuracy}});
    report["calibration"] = {{"ece", cal.value().ece}, {"mce", cal.value().max_gap}, {"bins", bins}};
    char name[32];
    std::snprintf(name, sizeof name, "T = %.2f", r.temperature);
    reliability = reliability_series(cal.value(), r.temperature != 1.0 ? name : "model");
  }
  // With temperature scaling: the same predictions before it (one view: without TTA), for the comparison.
  std::vector<cellcam::report::Series> reliability_curves;
  if (r.temperature != 1.0) {
    Result<Calibration> before = calibration(probabilities_at(p.logits, binary, 1.0), p.labels, 15);
    if (before) {
      report["calibration"]["ece_before_temperature"] = before.value().ece;
      report["calibration"]["nll_before_temperature"] = mean_nll(p.logits, p.labels, binary, 1.0);
      report["calibration"]["nll"] = mean_nll(p.logits, p.labels, binary, r.temperature);
      reliability_curves.push_back(reliability_series(before.value(), "T = 1"));
    }
  }

  // ---- referral: accuracy on the rest as the least certain images go to a person; the review band's effect
  const double decision_threshold = binary ? r.threshold : 0.5;
  const std::vector<ReferralPoint> curve = referral_curve(p.probs, p.labels, decision_threshold, binary);
  json referral{{"uncertainty", binary ? "1 - |p - threshold| / (distance from the threshold to 0 or 1)" : "1 - top-1 probability"}};
  cellcam::report::Series referral_series;
  referral_series.label = own_split ? s.part + " split" : "data";
  for (const ReferralPoint& pt : curve) {
    referral["curve"].push_back({{"referred", pt.rate}, {"kept", pt.kept}, {"accuracy", pt.accuracy}});
    referral_series.x.push_back(pt.rate);
    referral_series.y.push_back(pt.accuracy);
  }
  // With TTA, a second uncertainty score: how much the 8 views disagree. Its curve beside the margin's.
  cellcam::report::Series view_series;
  if (!p.view_disagreement.empty()) {
    const std::vector<int> correct = correct_decisions(p.probs, p.labels, r.threshold);
    view_series.label = "TTA view disagreement";
    for (const auto& [rate, accuracy] : referral_curve_by_score(p.view_disagreement, correct)) {
      referral["tta_disagreement"]["curve"].push_back({{"referred", rate}, {"accuracy", accuracy}});
      view_series.x.push_back(rate);
      view_series.y.push_back(accuracy);
    }
    referral["tta_disagreement"]["uncertainty"] = "mean total-variation distance of each view's probabilities from their mean";
    referral_series.label = "margin (" + referral_series.label + ")";
  }
  if (r.review_band.size() == 2) {
    const ReviewBand applied = apply_review_band(p.probs, p.labels, decision_threshold, binary, r.review_band[0], r.review_band[1]);
    referral["review_band"] = {{"band", r.review_band}, {"source", r.review_band_source},
                               {"referred_share", applied.referred_share}, {"kept_accuracy", applied.kept_accuracy}};
  }
  report["referral"] = referral;

  std::ostringstream csv;
  csv << "file,label";
  for (const std::string& c : classes) csv << ',' << data::csv_field("p_" + c);
  csv << ",predicted,correct\n";
  for (std::size_t i = 0; i < p.probs.size(); ++i) {
    const int predicted = predicted_class(p.probs[i], r.threshold);
    csv << data::csv_field(dataset.samples[p.samples[i]].path) << ',' << data::csv_field(classes[p.labels[i]]);
    for (float v : p.probs[i]) csv << ',' << probability_text(v);
    csv << ',' << data::csv_field(classes[predicted]) << ',' << (predicted == p.labels[i] ? 1 : 0) << '\n';
  }

  const fs::path out = s.out.empty() ? fs::path(s.run) / "eval" : fs::path(s.out);
  std::error_code ec;
  fs::create_directories(out, ec);
  if (ec) return fail(cmd, make_error(ErrorCode::kIo, "cannot create " + out.string() + ": " + ec.message()));
  Result<bool> written = native::write_text_atomically((out / "eval.json").string(), report.dump(2) + "\n");
  if (written) written = native::write_text_atomically((out / "predictions.csv").string(), csv.str());
  if (!written) return fail(cmd, written.error());
  // Plots beside the numbers; a plot that cannot be drawn is reported, the numbers stand.
  std::vector<Result<bool>> drawn;
  drawn.push_back(cellcam::report::plot_confusion((out / "confusion.png").string(), classes, m.confusion.counts));
  if (!reliability.x.empty()) reliability_curves.push_back(reliability);
  if (!reliability_curves.empty())
    drawn.push_back(cellcam::report::plot_reliability((out / "reliability.png").string(), reliability_curves));
  if (!referral_series.x.empty()) {
    std::vector<cellcam::report::Series> curves{referral_series};
    if (!view_series.x.empty()) curves.push_back(view_series);
    drawn.push_back(cellcam::report::plot_referral((out / "referral.png").string(), curves));
  }
  if (binary) {
    std::vector<cellcam::report::Series> curves = roc_series(p, classes, "model");
    if (!curves.empty()) drawn.push_back(cellcam::report::plot_roc((out / "roc.png").string(), curves));
  }
  for (const Result<bool>& d : drawn)
    if (!d) std::fprintf(stderr, "cellcam eval: plot not drawn: %s\n", d.error().message.c_str());

  std::printf("cellcam eval: %s, checkpoint %s (epoch %d), on %s%s\n", s.run.c_str(), s.checkpoint.c_str(), r.checkpoint_epoch,
              own_split ? ("the " + s.part + " split of ").c_str() : "", data_path.c_str());
  std::printf("%zu images evaluated, %zu skipped", p.labels.size(), skipped.size());
  if (binary) std::printf("; threshold %.4f (%s)", r.threshold, r.threshold_source.c_str());
  std::printf("\naccuracy  %.4f", m.accuracy);
  if (ci) std::printf("  (95%% CI %.4f-%.4f)", ci.value().accuracy.lo, ci.value().accuracy.hi);
  std::printf("\nROC-AUC   %s", metric_text(m.roc_auc).c_str());
  if (ci) std::printf("  (95%% CI %.4f-%.4f)", ci.value().roc_auc.lo, ci.value().roc_auc.hi);
  std::printf("\nmacro F1  %.4f\n", m.macro.f1);
  if (cal) std::printf("ECE       %.4f (15 bins)", cal.value().ece);
  if (cal && report["calibration"].contains("ece_before_temperature"))
    std::printf("  at temperature %.3f; %.4f before it", r.temperature, report["calibration"]["ece_before_temperature"].get<double>());
  if (cal) std::printf("\n");
  if (referral.contains("review_band"))
    std::printf("review    band [%.4f, %.4f] refers %.1f%%; accuracy on the rest %.4f\n", r.review_band[0], r.review_band[1],
                100 * referral["review_band"]["referred_share"].get<double>(), referral["review_band"]["kept_accuracy"].get<double>());
  std::printf("%s", confusion_text(m, classes).c_str());
  std::printf("written: %s, %s\n", (out / "eval.json").string().c_str(), (out / "predictions.csv").string().c_str());
  return 0;
}

}  // namespace

int run_eval(const EvalSettings& settings) {
  try {
    return eval_impl(settings);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cellcam eval: internal error: %s\n", native::first_line(e.what()).c_str());
    return 1;
  }
}

}  // namespace cellcam::train
