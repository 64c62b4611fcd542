// calibrate.cpp — see calibrate.h.
// Nothing here throws past run_calibrate: LibTorch's exceptions are caught and reported there.
#include "calibrate.h"

#include <torch/torch.h>

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "calibration.h"
#include "command_output.h"
#include "file_io.h"
#include "image_store.h"
#include "plot.h"
#include "predictions.h"
#include "runtime.h"
#include "scored_data.h"
#include "trained_model.h"

namespace cellcam::train {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

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
  if (written) written = write_run_card(s.run);  // RUN/model.json: the temperature, moved threshold and band
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

}  // namespace

int run_calibrate(const CalibrateSettings& settings) {
  try {
    return calibrate_impl(settings);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cellcam calibrate: internal error: %s\n", native::first_line(e.what()).c_str());
    return 1;
  }
}

}  // namespace cellcam::train
