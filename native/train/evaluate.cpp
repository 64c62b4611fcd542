// evaluate.cpp — see evaluate.h.
//
// The numbers must match the training report: eval reads images through the same ImageStore and
// predict_store as the trainer's test pass, and predict preprocesses with preprocess(), which is
// bit-identical to the store's resize_to_canvas + canvas_to_tensor. A binary decision is
// `P(classes[1]) >= threshold` (as compute_metrics), a multi-class one the argmax (lowest index on ties).
// Nothing here throws past run_eval / run_predict: LibTorch's exceptions are caught and reported there.
#include "evaluate.h"

#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "cellcam/model_spec.h"
#include "cellcam/preprocess.h"
#include "dataset.h"
#include "ensemble.h"
#include "image_io.h"
#include "calibration.h"
#include "inference.h"
#include "plot.h"
#include "loader.h"
#include "metrics.h"
#include "network.h"
#include "run_loader.h"
#include "runtime.h"
#include "scored_data.h"
#include "split.h"

namespace cellcam::train {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

int fail(const char* command, const Error& e) {
  std::fprintf(stderr, "cellcam %s: %s\n", command, e.message.c_str());
  return 1;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

std::string probability_text(double p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", p);
  return buf;
}

// ---------------------------------------------------------------------------------------------
// eval

// ROC-AUC is undefined (NaN; null in JSON) when the data holds a single class.
std::string metric_text(double v) {
  if (std::isnan(v)) return "n/a (needs samples of more than one class)";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", v);
  return buf;
}

// A reliability diagram's points (the non-empty bins), labelled "<name> (ECE x)".
cellcam::report::Series reliability_series(const Calibration& c, const std::string& name) {
  cellcam::report::Series series;
  for (const CalibrationBin& b : c.bins) {
    if (b.count == 0) continue;
    series.x.push_back(b.confidence);
    series.y.push_back(b.accuracy);
  }
  char ece[32];
  std::snprintf(ece, sizeof ece, "%.3f", c.ece);
  series.label = name + " (ECE " + ece + ")";
  return series;
}

std::string confusion_text(const Metrics& m, const std::vector<std::string>& classes) {
  std::size_t width = 9;  // "predicted"
  for (const std::string& c : classes) width = std::max(width, c.size());
  for (long long n : m.confusion.counts) width = std::max(width, std::to_string(n).size());
  auto pad = [&](const std::string& s) { return std::string(width - std::min(width, s.size()), ' ') + s; };
  std::ostringstream out;
  out << "confusion matrix (rows: true class, columns: predicted)\n  " << std::string(width, ' ');
  for (const std::string& c : classes) out << "  " << pad(c);
  out << '\n';
  for (int t = 0; t < static_cast<int>(classes.size()); ++t) {
    out << "  " << classes[t] << std::string(width - std::min(width, classes[t].size()), ' ');
    for (int p = 0; p < static_cast<int>(classes.size()); ++p) out << "  " << pad(std::to_string(m.confusion.at(t, p)));
    out << '\n';
  }
  return out.str();
}


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

// ---------------------------------------------------------------------------------------------
// calibrate

int calibrate_impl(const CalibrateSettings& s) {
  const char* cmd = "calibrate";
  if (s.batch_size < 1) return fail(cmd, make_error(ErrorCode::kInvalidArgument, "--batch-size must be at least 1"));
  const int threads = native::configure_torch_threads(s.threads);
  Result<LoadedRun> loaded = load_run(s.run, "best");
  if (!loaded) return fail(cmd, loaded.error());
  LoadedRun& r = loaded.value();
  if (r.exported)
    return fail(cmd, make_error(ErrorCode::kInvalidArgument, s.run + " is an exported model folder: calibrate the run it came from "
                                                                     "(its validation split), then export again"));
  const bool binary = r.spec.head == HeadKind::kBinary;
  Result<ScoredData> scored = scored_data(r, s.run, "", "val");
  if (!scored) return fail(cmd, scored.error());
  std::vector<data::Skipped> skipped;
  Result<ImageStore> store = ImageStore::build(scored.value().dataset, scored.value().samples, r.spec.preprocess, threads,
                                               static_cast<std::size_t>(r.settings.value("cache_gb", 4.0) * (1ull << 30)), &skipped);
  if (!store) return fail(cmd, store.error());
  const Predictions p = predict_store(r.net, store.value(), store.value().usable(), s.batch_size, r.device);
  Result<double> fitted = fit_temperature(p.logits, p.labels, binary);
  if (!fitted) return fail(cmd, fitted.error());
  const double t = fitted.value();
  const std::vector<std::vector<float>> raw = probabilities_at(p.logits, binary, 1.0);
  // The calibrated validation probabilities: the scale the page and model.json use (threshold, review band).
  const std::vector<std::vector<float>> calibrated = probabilities_at(p.logits, binary, t);
  Result<Calibration> before = calibration(raw, p.labels, 15);
  Result<Calibration> after = calibration(calibrated, p.labels, 15);
  if (!before || !after) return fail(cmd, (before ? after : before).error());
  // The trainer's threshold on raw probabilities (report.json), moved to the same boundary at T.
  double raw_threshold = 0.5;
  if (r.report.is_object() && r.report.contains("threshold") && r.report["threshold"].is_object())
    raw_threshold = r.report["threshold"].value("value", 0.5);
  json out{{"temperature", t},
           {"method", "temperature scaling (Guo et al., 2017): p = softmax(z / T), or sigmoid(z / T) for one logit"},
           {"fitted_on", {{"part", "val"}, {"images", p.labels.size()}}},
           {"checkpoint", {{"path", r.checkpoint_path}, {"epoch", r.checkpoint_epoch}}},
           {"val", {{"nll_before", mean_nll(p.logits, p.labels, binary, 1.0)}, {"nll_after", mean_nll(p.logits, p.labels, binary, t)},
                    {"ece_before", before.value().ece}, {"ece_after", after.value().ece}}}};
  const double threshold_t = binary ? threshold_keeping_decisions(raw, calibrated, raw_threshold, t) : 0.5;
  if (binary) out["threshold"] = {{"at_temperature_1", raw_threshold}, {"at_temperature", threshold_t}};
  Result<ReviewBand> band = choose_review_band(calibrated, p.labels, threshold_t, binary, s.target_accuracy, s.max_referral);
  if (!band) return fail(cmd, band.error());
  out["review_band"] = {{"band", {band.value().lo, band.value().hi}},
                        {"score", binary ? "P(" + r.spec.classes[1] + ")" : std::string("top-1 probability")},
                        {"target_accuracy", s.target_accuracy}, {"max_referral", s.max_referral},
                        {"reached", band.value().reached}, {"val_referred_share", band.value().referred_share},
                        {"val_kept_accuracy", band.value().kept_accuracy}};
  Result<bool> written = native::write_text_atomically((fs::path(s.run) / "calibration.json").string(), out.dump(2) + "\n");
  if (!written) return fail(cmd, written.error());
  const std::vector<cellcam::report::Series> curves = {reliability_series(before.value(), "T = 1"),
                                                       reliability_series(after.value(), "fitted T")};
  Result<bool> drawn = cellcam::report::plot_reliability((fs::path(s.run) / "calibration_reliability.png").string(), curves);
  if (!drawn) std::fprintf(stderr, "cellcam calibrate: plot not drawn: %s\n", drawn.error().message.c_str());
  std::printf("cellcam calibrate: %s on its validation split (%zu images): temperature %.4f\n", s.run.c_str(), p.labels.size(), t);
  std::printf("validation NLL %.4f -> %.4f, ECE %.4f -> %.4f", out["val"]["nll_before"].get<double>(), out["val"]["nll_after"].get<double>(),
              before.value().ece, after.value().ece);
  if (binary) std::printf("; threshold %.4f -> %.4f (same decisions)", raw_threshold, threshold_t);
  std::printf("\nreview band [%.4f, %.4f]: refers %.1f%% of validation, %.2f%% accurate on the rest (target %.2f%%%s)\n",
              band.value().lo, band.value().hi, 100 * band.value().referred_share, 100 * band.value().kept_accuracy,
              100 * s.target_accuracy, band.value().reached ? "" : ", not reached within --max-referral");
  std::printf("written: %s/calibration.json; eval, predict, gradcam and export now apply it\n", s.run.c_str());
  return 0;
}

// ---------------------------------------------------------------------------------------------
// predict

struct PredictRow {
  std::string error;          // empty: predicted
  std::vector<float> probs;   // one per class
};

// Decodes and preprocesses files[begin, end) on `threads` threads, then runs them through the
// network as one batch. Errors land in the rows; the batch holds only the images that made it.
void predict_chunk(const std::vector<std::string>& files, std::size_t begin, std::size_t end, LoadedRun& r, bool tta, int threads,
                   std::vector<PredictRow>& rows) {
  const PreprocessSpec& spec = r.spec.preprocess;
  const std::size_t n = end - begin;
  std::vector<std::optional<Tensor>> tensors(n);
  std::atomic<std::size_t> next{0};
  auto work = [&] {
    for (std::size_t i = next++; i < n; i = next++) {
      PredictRow& row = rows[begin + i];
      Result<std::vector<std::uint8_t>> bytes = native::read_file(files[begin + i]);
      if (!bytes) { row.error = bytes.error().message; continue; }
      Result<Image> image = native::decode_any(bytes.value().data(), bytes.value().size());
      if (!image) { row.error = image.error().message; continue; }
      Result<Tensor> tensor = preprocess(image.value(), spec);
      if (!tensor) { row.error = tensor.error().message; continue; }
      tensors[i] = tensor.take();
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < std::min<int>(threads, static_cast<int>(n)); ++t) pool.emplace_back(work);
  work();
  for (std::thread& t : pool) t.join();

  Batch batch;
  batch.channels = spec.channels();
  batch.height = spec.height;
  batch.width = spec.width;
  std::vector<std::size_t> members;
  for (std::size_t i = 0; i < n; ++i) {
    if (!tensors[i]) continue;
    batch.images.insert(batch.images.end(), tensors[i]->data.begin(), tensors[i]->data.end());
    members.push_back(begin + i);
  }
  batch.size = static_cast<int>(members.size());
  if (batch.size == 0) return;
  torch::NoGradGuard no_grad;
  const torch::Tensor x = batch_images(batch, r.device);
  const bool binary = r.spec.head == HeadKind::kBinary;
  const torch::Tensor p = (tta ? tta_probabilities(r.net, x, binary, r.temperature) : probabilities(r.net->forward(x), binary, r.temperature)).to(torch::kCPU).contiguous();
  const float* data = p.data_ptr<float>();
  const long c = p.size(1);
  for (std::size_t k = 0; k < members.size(); ++k) rows[members[k]].probs.assign(data + k * c, data + (k + 1) * c);
}

int predict_impl(const PredictSettings& s) {
  const char* cmd = "predict";
  if (s.batch_size < 1) return fail(cmd, make_error(ErrorCode::kInvalidArgument, "--batch-size must be at least 1"));
  if (s.inputs.empty()) return fail(cmd, make_error(ErrorCode::kInvalidArgument, "give image files or folders"));
  if (s.out.empty()) return fail(cmd, make_error(ErrorCode::kInvalidArgument, "--out must name a CSV file"));
  const int threads = native::configure_torch_threads(s.threads);
  // One model, or an ensemble folder (`cellcam ensemble`): its members run one after the other on each
  // chunk and their probabilities combine as model.json says (the page's ensemble.js does the same).
  std::optional<LoadedEnsemble> ensemble;
  std::vector<LoadedRun*> models;
  Result<LoadedRun> loaded = make_error(ErrorCode::kInvalidArgument, "not loaded");
  if (is_ensemble_folder(s.run)) {
    Result<LoadedEnsemble> e = load_ensemble(s.run);
    if (!e) return fail(cmd, e.error());
    ensemble = e.take();
    for (LoadedRun& m : ensemble->members) models.push_back(&m);
  } else {
    loaded = load_run(s.run, s.checkpoint);
    if (!loaded) return fail(cmd, loaded.error());
    models.push_back(&loaded.value());
  }
  const std::vector<std::string> classes = ensemble ? ensemble->classes : models[0]->spec.classes;
  const double threshold = ensemble ? ensemble->threshold : models[0]->threshold;
  const bool binary_head = ensemble ? ensemble->binary : models[0]->spec.head == HeadKind::kBinary;
  if (s.kaggle && classes.size() != 2)
    return fail(cmd, make_error(ErrorCode::kInvalidArgument, "--kaggle writes P(" + classes.back() +
                                                                 ") per image and needs a two-class model; this one has " +
                                                                 std::to_string(classes.size()) + " classes"));

  const std::vector<std::string> files = native::collect_image_files(s.inputs);
  if (files.empty()) return fail(cmd, make_error(ErrorCode::kInvalidArgument, "no image files in " + join(s.inputs)));

  std::vector<PredictRow> rows(files.size());
  const bool terminal = isatty(fileno(stderr)) != 0;
  for (std::size_t begin = 0; begin < files.size(); begin += s.batch_size) {
    const std::size_t end = std::min(files.size(), begin + static_cast<std::size_t>(s.batch_size));
    if (!ensemble) {
      predict_chunk(files, begin, end, *models[0], s.tta, threads, rows);
    } else {
      std::vector<std::vector<PredictRow>> member_rows(models.size(), std::vector<PredictRow>(files.size()));
      for (std::size_t m = 0; m < models.size(); ++m) predict_chunk(files, begin, end, *models[m], s.tta, threads, member_rows[m]);
      for (std::size_t i = begin; i < end; ++i) {
        std::vector<ProbabilityTable> one(models.size());
        for (std::size_t m = 0; m < models.size(); ++m) {
          if (member_rows[m][i].probs.empty()) {
            rows[i].error = member_rows[m][i].error.empty() ? "not predicted" : member_rows[m][i].error;
            break;
          }
          one[m] = {member_rows[m][i].probs};
        }
        if (!rows[i].error.empty()) continue;
        Result<ProbabilityTable> combined =
            ensemble->method == "stacking" ? apply_stacking(ensemble->stacking, one) : soft_vote(one, ensemble->weights);
        if (!combined) rows[i].error = combined.error().message;
        else rows[i].probs = combined.value()[0];
      }
    }
    if (terminal) std::fprintf(stderr, "\rpredicted %zu/%zu", end, files.size());
  }
  if (terminal) std::fputc('\n', stderr);

  std::ostringstream csv;
  if (s.kaggle) {
    csv << "id,label\n";
  } else {
    csv << "file";
    for (const std::string& c : classes) csv << ',' << data::csv_field("p_" + c);
    csv << ",predicted,error\n";
  }
  int failed = 0;
  std::vector<int> per_class(classes.size(), 0);
  std::map<std::string, int> ids;
  for (std::size_t i = 0; i < files.size(); ++i) {
    const PredictRow& row = rows[i];
    if (row.probs.empty()) {
      ++failed;
      const std::string error = row.error.empty() ? "not predicted" : row.error;
      std::fprintf(stderr, "%s: error: %s\n", files[i].c_str(), error.c_str());
      if (!s.kaggle) csv << data::csv_field(files[i]) << std::string(classes.size() + 1, ',') << ',' << data::csv_field(error) << '\n';
      continue;
    }
    const int predicted = predicted_class(row.probs, threshold);
    ++per_class[predicted];
    if (s.kaggle) {
      const std::string id = fs::path(files[i]).stem().string();
      if (ids[id]++ == 1) std::fprintf(stderr, "cellcam predict: warning: id %s occurs more than once\n", id.c_str());
      csv << data::csv_field(id) << ',' << probability_text(row.probs[1]) << '\n';
    } else {
      csv << data::csv_field(files[i]);
      for (float v : row.probs) csv << ',' << probability_text(v);
      csv << ',' << data::csv_field(classes[predicted]) << ",\n";
    }
  }

  std::error_code ec;
  const fs::path parent = fs::path(s.out).parent_path();
  if (!parent.empty()) fs::create_directories(parent, ec);
  if (ec) return fail(cmd, make_error(ErrorCode::kIo, "cannot create " + parent.string() + ": " + ec.message()));
  Result<bool> written = native::write_text_atomically(s.out, csv.str());
  if (!written) return fail(cmd, written.error());

  std::string counts;
  for (std::size_t c = 0; c < classes.size(); ++c)
    counts += (c ? ", " : "") + classes[c] + " " + std::to_string(per_class[c]);
  if (binary_head) counts += "; threshold " + probability_text(threshold);
  std::printf("%zu images: %zu predicted (%s), %d failed; %s: %s\n", files.size(), files.size() - failed, counts.c_str(),
              failed, s.kaggle ? "Kaggle submission" : "predictions", s.out.c_str());
  return failed ? 2 : 0;
}

}  // namespace

int run_eval(const EvalSettings& settings) {
  try {
    return eval_impl(settings);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cellcam eval: internal error: %s\n", e.what());
    return 1;
  }
}

int run_calibrate(const CalibrateSettings& settings) {
  try {
    return calibrate_impl(settings);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cellcam calibrate: internal error: %s\n", e.what());
    return 1;
  }
}

int run_predict(const PredictSettings& settings) {
  try {
    return predict_impl(settings);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cellcam predict: internal error: %s\n", e.what());
    return 1;
  }
}

}  // namespace cellcam::train
