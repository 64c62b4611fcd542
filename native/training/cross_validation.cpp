// cross_validation.cpp — see cross_validation.h. Statistics over folds: the mean, the sample standard
// deviation and a 95% t-interval of the mean (K folds give K - 1 degrees of freedom); pooled: the K test
// parts' confusion matrices summed, with a Wilson interval that treats images as independent (they are
// not: cells of one patient are alike, so the fold-level interval is the more honest of the two).
#include "cross_validation.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "file_io.h"
#include "plot.h"
#include "process_group.h"

namespace cellcam::train {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

int fail(const Error& e) {
  std::fprintf(stderr, "cellcam train: %s\n", e.message.c_str());
  return 1;
}

// Two-sided 95% quantile of Student's t with `df` degrees of freedom: the table to 30, then the
// Cornish-Fisher expansion around 1.96 (within 0.001 of the exact value from 30 on).
double t_quantile_95(int df) {
  static const double kTable[] = {12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
                                  2.201,  2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
                                  2.080,  2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042};
  if (df >= 1 && df <= 30) return kTable[df - 1];
  const double z = 1.959964, n = df;
  return z + (z * z * z + z) / (4 * n) + (5 * std::pow(z, 5) + 16 * z * z * z + 3 * z) / (96 * n * n);
}

MeanSpread mean_spread(const std::vector<double>& v) {
  MeanSpread m;
  for (double x : v) m.mean += x;
  m.mean /= v.size();
  double ss = 0.0;
  for (double x : v) ss += (x - m.mean) * (x - m.mean);
  m.sd = std::sqrt(ss / (v.size() - 1));
  const double half = t_quantile_95(static_cast<int>(v.size()) - 1) * m.sd / std::sqrt(static_cast<double>(v.size()));
  m.lo = std::max(0.0, m.mean - half);  // every metric summarised here lies in [0, 1]
  m.hi = std::min(1.0, m.mean + half);
  return m;
}

// Epochs a run folder has completed: metrics.csv's rows (it is rewritten after every epoch).
int completed_epochs(const fs::path& run) {
  std::ifstream in(run / "metrics.csv");
  int lines = 0;
  for (std::string line; std::getline(in, line);) lines += !line.empty();
  return std::max(0, lines - 1);
}

json spread_json(const MeanSpread& m) { return {{"mean", m.mean}, {"sd", m.sd}, {"ci95", {m.lo, m.hi}}}; }

std::string pct(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.2f%%", 100 * v);
  return b;
}
std::string num(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.4f", v);
  return b;
}

std::string report_markdown(const CrossValidationSummary& c, const std::vector<FoldResult>& folds, const TrainSettings& s) {
  const bool binary = folds[0].classes.size() == 2;
  std::ostringstream md;
  md << "# Cross-validation: " << c.folds << " folds" << (s.data.empty() ? "" : " on `" + s.data + "`") << "\n\n"
     << "Every image is in exactly one fold's test part; folds are dealt by group (patient) when the data has groups, "
        "stratified by class; each fold's operating threshold was chosen on its own validation part. Seed "
     << s.seed << ".\n\n| fold | test images | accuracy | ROC-AUC | macro F1 |" << (binary ? " sensitivity | specificity |" : "")
     << "\n|---|---|---|---|---|" << (binary ? "---|---|" : "") << "\n";
  for (const FoldResult& f : folds) {
    long long n = 0;
    for (long long v : f.confusion) n += v;
    md << "| " << f.fold << " | " << n << " | " << pct(f.accuracy) << " | " << num(f.roc_auc) << " | " << num(f.macro_f1) << " |";
    if (binary) md << " " << pct(f.sensitivity) << " | " << pct(f.specificity) << " |";
    md << "\n";
  }
  const auto row = [&](const char* name, const MeanSpread& m, bool percent) {
    const auto f = [&](double v) { return percent ? pct(v) : num(v); };
    md << "| " << name << " | " << f(m.mean) << " | " << f(m.sd) << " | " << f(m.lo) << " – " << f(m.hi) << " |\n";
  };
  md << "\n| metric over folds | mean | SD | 95% t-interval of the mean |\n|---|---|---|---|\n";
  row("accuracy", c.accuracy, true);
  row("ROC-AUC", c.roc_auc, false);
  row("macro F1", c.macro_f1, false);
  if (binary) {
    row("sensitivity", c.sensitivity, true);
    row("specificity", c.specificity, true);
  }
  md << "\nPooled over all " << c.images << " test images: accuracy " << pct(c.pooled_accuracy) << " (Wilson 95% "
     << pct(c.pooled_lo) << " – " << pct(c.pooled_hi)
     << ", which takes images as independent; cells of one patient are not, so the interval over folds is the safer one).\n\n"
     << "| true \\ predicted |";
  const std::vector<std::string>& classes = folds[0].classes;
  for (const std::string& name : classes) md << " " << name << " |";
  md << "\n|---|";
  for (std::size_t i = 0; i < classes.size(); ++i) md << "---|";
  md << "\n";
  for (std::size_t r = 0; r < classes.size(); ++r) {
    md << "| " << classes[r] << " |";
    for (std::size_t k = 0; k < classes.size(); ++k) md << " " << c.pooled_confusion[r * classes.size() + k] << " |";
    md << "\n";
  }
  md << "\n![test metrics by fold](cv_accuracy.png) ![pooled confusion matrix](confusion_pooled.png)\n\n"
     << "Each fold's own report, with its training curves, ROC and confusion matrix: `fold-<k>/report.md`.\n";
  return md.str();
}

// Each fold's test accuracy (and, binary, sensitivity and specificity) with the mean as a dashed line.
Result<bool> plot_folds(const std::string& path, const CrossValidationSummary& c, const std::vector<FoldResult>& folds) {
  report::LineChart chart;
  chart.title = "Test metrics by fold (" + std::to_string(folds.size()) + "-fold cross-validation)";
  chart.x_label = "fold";
  chart.y_label = "share";
  report::Series accuracy{"accuracy", {}, {}, std::nullopt, false};
  report::Series sensitivity{"sensitivity", {}, {}, std::nullopt, false};
  report::Series specificity{"specificity", {}, {}, std::nullopt, false};
  for (const FoldResult& f : folds) {
    accuracy.x.push_back(f.fold);
    accuracy.y.push_back(f.accuracy);
    sensitivity.x.push_back(f.fold);
    sensitivity.y.push_back(f.sensitivity);
    specificity.x.push_back(f.fold);
    specificity.y.push_back(f.specificity);
  }
  chart.series.push_back(accuracy);
  if (folds[0].classes.size() == 2) {
    chart.series.push_back(sensitivity);
    chart.series.push_back(specificity);
  }
  char mean_label[64];
  std::snprintf(mean_label, sizeof mean_label, "mean accuracy %.2f%%", 100 * c.accuracy.mean);
  chart.series.push_back({mean_label, {accuracy.x.front(), accuracy.x.back()}, {c.accuracy.mean, c.accuracy.mean}, std::nullopt, true});
  chart.x_min = 0;  // a fold's width of margin each side: whole-number ticks, no point on the frame
  chart.x_max = static_cast<double>(folds.size()) + 1;
  Result<report::Raster> raster = report::render_line_chart(chart);
  if (!raster) return raster.error();
  return report::write_png(raster.value(), path);
}

}  // namespace

Result<FoldResult> read_fold_result(const std::string& path, int fold) {
  Result<std::string> text = native::read_text(path);
  if (!text) return text.error();
  return fold_result_from_text(text.value(), path, fold);
}

Result<FoldResult> fold_result_from_text(const std::string& text, const std::string& path, int fold) {
  const json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return make_error(ErrorCode::kCorrupt, path + " is not a JSON object");
  try {
    if (!j.contains("test")) return make_error(ErrorCode::kCorrupt, path + " has no test metrics (an empty test part?)");
    const json& t = j.at("test");
    FoldResult f;
    f.fold = fold;
    f.classes = j.at("classes").get<std::vector<std::string>>();
    f.confusion = t.at("confusion").at("counts").get<std::vector<long long>>();
    if (f.confusion.size() != f.classes.size() * f.classes.size())
      return make_error(ErrorCode::kCorrupt, path + ": the confusion matrix does not fit the classes");
    f.accuracy = t.at("accuracy").get<double>();
    f.roc_auc = t.at("roc_auc").get<double>();
    f.macro_f1 = t.at("macro").at("f1").get<double>();
    if (f.classes.size() == 2) {
      f.sensitivity = t.at("per_class").at(1).at("recall").get<double>();
      f.specificity = t.at("per_class").at(1).at("specificity").get<double>();
    }
    return f;
  } catch (const json::exception& e) {
    return make_error(ErrorCode::kCorrupt, path + " lacks a test metric: " + e.what());
  }
}

Result<CrossValidationSummary> summarise_folds(const std::vector<FoldResult>& folds) {
  if (folds.size() < 2) return make_error(ErrorCode::kInvalidArgument, "a cross-validation summary needs two folds at least");
  for (const FoldResult& f : folds) {
    if (f.classes != folds[0].classes) return make_error(ErrorCode::kInvalidArgument, "the folds were trained on different classes");
    if (f.confusion.size() != f.classes.size() * f.classes.size())
      return make_error(ErrorCode::kInvalidArgument, "fold " + std::to_string(f.fold) + "'s confusion matrix does not fit its classes");
  }
  CrossValidationSummary c;
  c.folds = static_cast<int>(folds.size());
  const std::size_t k = folds[0].classes.size();
  c.pooled_confusion.assign(k * k, 0);
  std::vector<double> acc, auc, f1, sens, spec;
  for (const FoldResult& f : folds) {
    for (std::size_t i = 0; i < k * k; ++i) c.pooled_confusion[i] += f.confusion[i];
    acc.push_back(f.accuracy);
    auc.push_back(f.roc_auc);
    f1.push_back(f.macro_f1);
    sens.push_back(f.sensitivity);
    spec.push_back(f.specificity);
  }
  long long correct = 0;
  for (std::size_t i = 0; i < k * k; ++i) c.images += c.pooled_confusion[i];
  for (std::size_t i = 0; i < k; ++i) correct += c.pooled_confusion[i * k + i];
  if (c.images == 0) return make_error(ErrorCode::kInvalidArgument, "the folds' test parts are empty");
  c.accuracy = mean_spread(acc);
  c.roc_auc = mean_spread(auc);
  c.macro_f1 = mean_spread(f1);
  c.sensitivity = mean_spread(sens);
  c.specificity = mean_spread(spec);
  const double n = static_cast<double>(c.images), p = correct / n, z = 1.959964;
  c.pooled_accuracy = p;
  const double centre = (p + z * z / (2 * n)) / (1 + z * z / n);  // Wilson score interval
  const double half = z * std::sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n);
  c.pooled_lo = centre - half;
  c.pooled_hi = centre + half;
  return c;
}

int run_cross_validation(const TrainSettings& settings, dist::Group& group) {
  const TrainSettings& s = settings;
  if (s.folds < 2 || s.folds > 100) return fail(make_error(ErrorCode::kInvalidArgument, "--folds must be from 2 to 100"));
  std::error_code ec;
  fs::create_directories(s.out, ec);
  if (ec) return fail(make_error(ErrorCode::kIo, "cannot create " + s.out + ": " + ec.message()));
  const fs::path out(s.out);
  if (group.rank() == 0 && !fs::exists(out / "config.json")) {
    TrainSettings stored = s;
    stored.resume.clear();
    const json config{{"settings", settings_to_json(stored)}, {"cross_validation", {{"folds", s.folds}}}};
    Result<bool> written = native::write_text_atomically((out / "config.json").string(), config.dump(2) + "\n");
    if (!written) return fail(written.error());
  }
  // --max-epochs-this-run is this process's budget over its folds, as for a single run.
  int budget = s.max_epochs_this_run;
  bool stopped = false;
  std::vector<int> mine;
  for (int k = 1; k <= s.folds; ++k)
    if ((k - 1) % group.world() == group.rank()) mine.push_back(k);
  std::unique_ptr<dist::Group> alone = dist::Group::solo();
  for (int k : mine) {
    const fs::path dir = out / ("fold-" + std::to_string(k));
    if (stopped || fs::exists(dir / "report.json")) continue;
    if (s.max_epochs_this_run > 0 && budget <= 0) {
      std::fprintf(stderr, "cross-validation stopped before fold %d as asked (%d epochs this run); continue with: cellcam train --resume %s\n",
                   k, s.max_epochs_this_run, s.out.c_str());
      stopped = true;
      continue;
    }
    const int epochs_before = completed_epochs(dir);
    TrainSettings fold = s;
    fold.max_epochs_this_run = s.max_epochs_this_run > 0 ? budget : 0;  // 0: no budget
    fold.fold = k;
    fold.out = dir.string();
    fold.resume = fs::exists(dir / "config.json") ? dir.string() : "";
    fold.dist = dist::DistOptions{};
    if (fold.resume.empty()) fs::remove_all(dir, ec);  // a fold stopped before its settings were written: ours, start it over
    std::fprintf(stderr, "== cross-validation: fold %d of %d%s -> %s%s\n", k, s.folds, fold.resume.empty() ? "" : " (resumed)",
                 fold.out.c_str(), group.distributed() ? (" on rank " + std::to_string(group.rank())).c_str() : "");
    // A failed fold ends this rank; the others notice that its heartbeat stopped.
    if (const int rc = run_train_in(fold, *alone); rc != 0) return rc;
    budget -= completed_epochs(dir) - epochs_before;
    if (!fs::exists(dir / "report.json")) {
      std::fprintf(stderr, "cross-validation stopped in fold %d as asked; continue with: cellcam train --resume %s\n", k, s.out.c_str());
      stopped = true;
    }
  }
  if (s.skip_test) {  // no fold was tested, so there is nothing to pool; the folds' validation is in their metrics.csv
    std::fprintf(stderr, "cross-validation: --no-test, so no cv_report; each fold's validation metrics are in %s/fold-k/metrics.csv\n", s.out.c_str());
    return 0;
  }
  // Every fold's report.json, on rank 0: its own from disk, the others' through the store.
  std::vector<std::string> reports(s.folds + 1);
  for (int k : mine) {
    Result<std::string> text = native::read_text((out / ("fold-" + std::to_string(k)) / "report.json").string());
    reports[k] = text ? text.value() : "";
    if (group.distributed()) {
      Result<bool> sent = group.publish("fold/" + std::to_string(k), reports[k]);
      if (!sent) return fail(sent.error());
    }
  }
  if (group.distributed()) {
    Result<bool> all = group.wait_for_all("cross-validation folds");
    if (!all) return fail(all.error());
    if (group.rank() != 0) return 0;
    for (int k = 1; k <= s.folds; ++k) {
      if (!reports[k].empty() || (k - 1) % group.world() == 0) continue;
      Result<std::string> text = group.fetch("fold/" + std::to_string(k));
      if (!text) return fail(text.error());
      reports[k] = text.value();
    }
  }
  std::vector<FoldResult> results;
  for (int k = 1; k <= s.folds; ++k) {
    if (reports[k].empty()) {
      if (!stopped) std::fprintf(stderr, "cross-validation: fold %d is not finished yet; continue with: cellcam train --resume %s\n", k, s.out.c_str());
      return 0;
    }
    Result<FoldResult> r = fold_result_from_text(reports[k], (out / ("fold-" + std::to_string(k)) / "report.json").string(), k);
    if (!r) return fail(r.error());
    results.push_back(r.take());
  }
  Result<CrossValidationSummary> summary = summarise_folds(results);
  if (!summary) return fail(summary.error());
  const CrossValidationSummary& c = summary.value();
  json folds = json::array();
  for (const FoldResult& f : results)
    folds.push_back({{"fold", f.fold}, {"accuracy", f.accuracy}, {"roc_auc", f.roc_auc}, {"macro_f1", f.macro_f1},
                     {"sensitivity", f.sensitivity}, {"specificity", f.specificity}, {"confusion", f.confusion}});
  const json report{{"folds", folds},
                    {"classes", results[0].classes},
                    {"seed", s.seed},
                    {"images", c.images},
                    {"accuracy", spread_json(c.accuracy)},
                    {"roc_auc", spread_json(c.roc_auc)},
                    {"macro_f1", spread_json(c.macro_f1)},
                    {"sensitivity", spread_json(c.sensitivity)},
                    {"specificity", spread_json(c.specificity)},
                    {"pooled", {{"accuracy", c.pooled_accuracy}, {"wilson95", {c.pooled_lo, c.pooled_hi}}, {"confusion", c.pooled_confusion}}}};
  for (Result<bool> drawn : {plot_folds((out / "cv_accuracy.png").string(), c, results),
                             report::plot_confusion((out / "confusion_pooled.png").string(), results[0].classes, c.pooled_confusion)})
    if (!drawn) std::fprintf(stderr, "warning: a plot was not drawn: %s\n", drawn.error().message.c_str());
  Result<bool> written = native::write_text_atomically((out / "cv_report.json").string(), report.dump(2) + "\n");
  if (written) written = native::write_text_atomically((out / "cv_report.md").string(), report_markdown(c, results, s));
  if (!written) return fail(written.error());
  std::fprintf(stderr, "cross-validation, %d folds: accuracy %.2f%% +- %.2f (95%% t-interval %.2f-%.2f); pooled %.2f%% of %lld images\n",
               c.folds, 100 * c.accuracy.mean, 100 * c.accuracy.sd, 100 * c.accuracy.lo, 100 * c.accuracy.hi,
               100 * c.pooled_accuracy, c.images);
  std::fprintf(stderr, "written: %s, %s\n", (out / "cv_report.json").string().c_str(), (out / "cv_report.md").string().c_str());
  return 0;
}

}  // namespace cellcam::train
