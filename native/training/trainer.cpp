// trainer.cpp — the training and evaluation loops on LibTorch (see trainer.h for the run folder).
//
// Reproducibility: the split comes from the seed; each epoch reseeds LibTorch (dropout) with
// (seed, epoch) and the loader derives order and augmentation from (seed, epoch, sample), so a run
// resumed from its last checkpoint continues exactly as an uninterrupted one would on CPU.
#include "trainer.h"

#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <random>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "augment.h"
#include "cellcam/model_spec.h"
#include "dataset.h"
#include "file_io.h"
#include "checkpoint.h"
#include "metrics_json.h"
#include "predictions.h"
#include "image_store.h"
#include "metrics.h"
#include "network.h"
#include "plot.h"
#include "runtime.h"
#include "schedule.h"
#include "cross_validation.h"
#include "split.h"
#include "weight_average.h"

namespace cellcam::train {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// ---------------------------------------------------------------------------------------------
// Small utilities

void log_line(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void log_line(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  std::vfprintf(stderr, fmt, ap);
  va_end(ap);
  std::fputc('\n', stderr);
}

int fail(const Error& e) {
  log_line("cellcam: %s", e.message.c_str());
  return 1;
}

// The model spec of a run: from --spec, or a preset with the input options; classes from the data.
Result<ModelSpec> resolve_spec(const TrainSettings& s, const data::Dataset& dataset) {
  json j;
  if (!s.spec.empty()) {
    Result<std::string> text = native::read_text(s.spec);
    if (!text) return text.error();
    j = json::parse(text.value(), nullptr, false);
    if (j.is_discarded() || !j.is_object()) return make_error(ErrorCode::kInvalidSpec, s.spec + " is not a JSON object");
  } else {
    j["name"] = fs::path(s.out).filename().string();
    j["architecture"] = {{"preset", s.preset}, {"width", s.width}};
    j["preprocess"] = {{"width", s.image_size}, {"height", s.image_size}, {"color", s.color}, {"aspect", s.aspect},
                       {"resize_filter", "triangle"}};
    // Centre the inputs roughly: [0,1] -> about [-1,1]; the networks normalise further with batch norm.
    const int channels = s.color == "gray" ? 1 : 3;
    j["preprocess"]["mean"] = std::vector<float>(channels, 0.5f);
    j["preprocess"]["std"] = std::vector<float>(channels, 0.25f);
  }
  if (!j.contains("classes")) j["classes"] = dataset.classes;
  Result<ModelSpec> spec = parse_model_spec(j.dump());
  if (!spec) return spec.error();
  if (spec.value().classes != dataset.classes) {
    std::string got;
    for (const std::string& c : dataset.classes) got += (got.empty() ? "" : ", ") + c;
    return make_error(ErrorCode::kInvalidSpec, "the spec's classes differ from the data's (" + got + ")");
  }
  return spec;
}

// --stain-norm: the targets are the mean foreground colour statistics of (up to 1,000 of) the training
// images, so normalisation maps every image onto the training set's typical stain. Deterministic (the
// split's order), so a resumed run gets the same targets.
Result<StainSpec> training_stain_targets(const data::Dataset& dataset, const std::vector<int>& train,
                                         const PreprocessSpec& spec) {
  StainSpec stain;
  stain.enabled = true;
  double mean[3] = {0, 0, 0}, sd[3] = {0, 0, 0};
  int used = 0;
  for (std::size_t i = 0; i < train.size() && used < 1000; ++i) {
    Result<Canvas> canvas = load_canvas(dataset.samples[train[i]].path, spec);
    if (!canvas || canvas.value().channels != 3) continue;  // unreadable files are reported by the store
    const ForegroundStats st = foreground_stats(canvas.value(), stain.foreground_above);
    if (st.pixels < 16) continue;
    for (int c = 0; c < 3; ++c) { mean[c] += st.mean[c]; sd[c] += st.std[c]; }
    ++used;
  }
  if (used == 0)
    return make_error(ErrorCode::kInvalidArgument, "--stain-norm: no colour training image has a foreground to measure");
  for (int c = 0; c < 3; ++c) {
    stain.target_mean[c] = static_cast<float>(mean[c] / used);
    stain.target_std[c] = static_cast<float>(std::max(sd[c] / used, 1.0 / 255.0));
  }
  return stain;
}

// --drop-noisy F: the small-loss trick against label noise (as in Co-teaching, Han et al. 2018, with one
// network): each batch leaves out of the loss its F * size samples of largest loss, which after the first
// epochs are mostly mislabelled ones. The fraction ramps up linearly over the first quarter of the
// epochs (none in epoch 1, while every loss is still large). Depends only on (settings, epoch), so a
// resumed run drops exactly as an uninterrupted one.
long noisy_drop_count(const TrainSettings& s, int epoch, int batch_size) {
  if (s.drop_noisy <= 0.0) return 0;
  const double ramp_epochs = std::max(1.0, s.epochs / 4.0);
  const double ramp = std::min(1.0, (epoch - 1) / ramp_epochs);
  const long drop = static_cast<long>(std::floor(s.drop_noisy * ramp * batch_size));
  return drop < batch_size ? drop : 0;
}

Result<std::unique_ptr<torch::optim::Optimizer>> make_optimizer(const TrainSettings& s, std::vector<torch::Tensor> params) {
  std::unique_ptr<torch::optim::Optimizer> opt;
  if (s.optimizer == "adam")
    opt = std::make_unique<torch::optim::Adam>(params, torch::optim::AdamOptions(s.lr).weight_decay(s.weight_decay));
  else if (s.optimizer == "adamw")
    opt = std::make_unique<torch::optim::AdamW>(params, torch::optim::AdamWOptions(s.lr).weight_decay(s.weight_decay));
  else if (s.optimizer == "sgd")
    opt = std::make_unique<torch::optim::SGD>(
        params, torch::optim::SGDOptions(s.lr).momentum(s.momentum).nesterov(s.momentum > 0).weight_decay(s.weight_decay));
  else if (s.optimizer == "rmsprop")
    opt = std::make_unique<torch::optim::RMSprop>(params, torch::optim::RMSpropOptions(s.lr).weight_decay(s.weight_decay));
  else
    return make_error(ErrorCode::kInvalidArgument, "unknown optimizer \"" + s.optimizer + "\" (adam, adamw, sgd, rmsprop)");
  return opt;
}

void set_lr(torch::optim::Optimizer& opt, double lr) {
  for (auto& group : opt.param_groups()) group.options().set_lr(lr);
}

// Balanced class weights n / (k * n_c) over the training samples.
std::vector<float> balanced_weights(const data::Dataset& d, const std::vector<int>& samples) {
  std::vector<double> counts(d.classes.size(), 0.0);
  for (int i : samples) counts[d.samples[i].label] += 1;
  std::vector<float> w(d.classes.size(), 1.0f);
  for (std::size_t c = 0; c < counts.size(); ++c)
    if (counts[c] > 0) w[c] = static_cast<float>(samples.size() / (counts.size() * counts[c]));
  return w;
}

// One epoch's sample list for the weighted sampler: N draws with replacement, P(i) ~ 1 / n_class(i).
std::vector<int> weighted_draw(const data::Dataset& d, const std::vector<int>& samples, std::uint64_t seed) {
  const std::vector<float> w = balanced_weights(d, samples);
  std::vector<double> cumulative;
  double total = 0;
  for (int i : samples) cumulative.push_back(total += w[d.samples[i].label]);
  std::mt19937_64 rng(seed);
  std::vector<int> out;
  for (std::size_t k = 0; k < samples.size(); ++k) {
    const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53 * total;
    const auto it = std::upper_bound(cumulative.begin(), cumulative.end(), u);
    out.push_back(samples[std::min<std::size_t>(it - cumulative.begin(), samples.size() - 1)]);
  }
  return out;
}

struct EpochRow {
  int epoch = 0;
  double lr = 0, train_loss = 0, train_accuracy = 0, val_loss = 0, val_accuracy = 0, val_auc = 0, val_f1 = 0;
  double seconds = 0, images_per_second = 0, data_wait_share = 0;
};

json row_to_json(const EpochRow& r) {
  return json{{"epoch", r.epoch}, {"lr", r.lr}, {"train_loss", r.train_loss}, {"train_accuracy", r.train_accuracy},
              {"val_loss", r.val_loss}, {"val_accuracy", r.val_accuracy}, {"val_auc", r.val_auc}, {"val_f1", r.val_f1},
              {"seconds", r.seconds}, {"images_per_second", r.images_per_second}, {"data_wait_share", r.data_wait_share}};
}
EpochRow row_from_json(const json& j) {
  EpochRow r;
  r.epoch = j.value("epoch", 0);
  r.lr = j.value("lr", 0.0);
  r.train_loss = j.value("train_loss", 0.0);
  r.train_accuracy = j.value("train_accuracy", 0.0);
  r.val_loss = j.value("val_loss", 0.0);
  r.val_accuracy = j.value("val_accuracy", 0.0);
  r.val_auc = j.value("val_auc", 0.0);
  r.val_f1 = j.value("val_f1", 0.0);
  r.seconds = j.value("seconds", 0.0);
  r.images_per_second = j.value("images_per_second", 0.0);
  r.data_wait_share = j.value("data_wait_share", 0.0);
  return r;
}

std::string metrics_csv(const std::vector<EpochRow>& rows) {
  std::ostringstream out;
  out << "epoch,lr,train_loss,train_accuracy,val_loss,val_accuracy,val_auc,val_f1,seconds,images_per_second,data_wait_share\n";
  for (const EpochRow& r : rows)
    out << r.epoch << ',' << r.lr << ',' << r.train_loss << ',' << r.train_accuracy << ',' << r.val_loss << ','
        << r.val_accuracy << ',' << r.val_auc << ',' << r.val_f1 << ',' << r.seconds << ',' << r.images_per_second << ','
        << r.data_wait_share << '\n';
  return out.str();
}

double monitored(const EpochRow& r, const std::string& monitor) {
  if (monitor == "val_accuracy") return r.val_accuracy;
  if (monitor == "val_auc") return r.val_auc;
  if (monitor == "val_f1") return r.val_f1;
  return r.val_loss;
}
bool higher_is_better(const std::string& monitor) { return monitor != "val_loss"; }

bool on_terminal() { return isatty(fileno(stderr)) != 0; }

std::string num(const json& v) {
  if (!v.is_number()) return "n/a";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", v.get<double>());
  return buf;
}

std::string percent(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f%%", 100 * v);
  return buf;
}

// report.md: the numbers a reader looks for first, then the plots.
std::string report_markdown(const json& r, const TrainSettings& s) {
  std::ostringstream md;
  md << "# Training report: " << r.value("model", std::string("model")) << "\n\n";
  md << "Data: `" << s.data << "`; split by " << (r.value("grouped", false) ? "group (patient)" : "image, stratified")
     << ": " << r["split"]["train"] << " train / " << r["split"]["val"] << " validation / " << r["split"]["test"]
     << " test images; " << r.value("skipped", 0) << " skipped (see skipped.csv).\n\n";
  md << "Model: preset `" << s.preset << "`, input " << s.image_size << "x" << s.image_size << " " << s.color << ", "
     << r.value("parameters", 0LL) << " parameters. Training: " << s.optimizer << ", lr " << s.lr << " (" << s.schedule
     << "), batch " << s.batch_size << ", augmentation `" << s.augment << "`, best epoch " << r["best_epoch"] << " of "
     << r["epochs_run"] << " by " << s.monitor << ".\n\n";
  if (r.contains("test")) {
    const json& t = r["test"];
    md << "## Test split (held out)\n\n| metric | value |\n|---|---|\n";
    md << "| accuracy | " << percent(t["accuracy"].get<double>()) << " |\n";
    md << "| ROC-AUC | " << num(t["roc_auc"]) << " |\n| PR-AUC | " << num(t["pr_auc"]) << " |\n";
    md << "| macro F1 | " << num(t["macro"]["f1"]) << " |\n| loss | " << num(t["loss"]) << " |\n\n";
    md << "| class | precision | recall (sensitivity) | specificity | F1 | support |\n|---|---|---|---|---|---|\n";
    for (const json& c : t["per_class"])
      md << "| " << c["class"].get<std::string>() << " | " << num(c["precision"]) << " | " << num(c["recall"]) << " | "
         << num(c["specificity"]) << " | " << num(c["f1"]) << " | " << c["support"] << " |\n";
    md << "\n";
  }
  if (r.contains("threshold"))
    md << "Operating threshold " << num(r["threshold"]["value"]) << " on P(" << r["classes"][1].get<std::string>() << ") ("
       << r["threshold"]["chosen_by"].get<std::string>() << "; validation sensitivity "
       << num(r["threshold"]["validation_sensitivity"]) << ", specificity " << num(r["threshold"]["validation_specificity"]) << ").\n\n";
  md << "![training curves](training_curves.png)\n\n![ROC](roc.png)\n\n![confusion matrix](confusion_test.png)\n";
  return md.str();
}

}  // namespace

json settings_to_json(const TrainSettings& s) {
  return json{{"data", s.data}, {"out", s.out}, {"spec", s.spec}, {"preset", s.preset}, {"width", s.width},
              {"image_size", s.image_size}, {"color", s.color}, {"aspect", s.aspect}, {"augment", s.augment},
              {"stain_norm", s.stain_norm}, {"drop_noisy", s.drop_noisy}, {"epochs", s.epochs}, {"batch_size", s.batch_size}, {"optimizer", s.optimizer}, {"lr", s.lr},
              {"weight_decay", s.weight_decay}, {"momentum", s.momentum}, {"schedule", s.schedule},
              {"warmup_epochs", s.warmup_epochs}, {"class_weights", s.class_weights},
              {"weighted_sampler", s.weighted_sampler}, {"monitor", s.monitor}, {"patience", s.patience},
              {"val_fraction", s.val_fraction}, {"test_fraction", s.test_fraction}, {"folds", s.folds}, {"fold", s.fold},
              {"target_sensitivity", s.target_sensitivity}, {"ema", s.ema}, {"tta", s.tta}, {"positive_class", s.positive_class}, {"seed", s.seed}, {"threads", s.threads},
              {"workers", s.workers}, {"device", s.device}, {"init_from", s.init_from}, {"cache_gb", s.cache_gb}};
}

TrainSettings settings_from_json(const json& j) {
  TrainSettings s;
  s.data = j.value("data", s.data);
  s.out = j.value("out", s.out);
  s.spec = j.value("spec", s.spec);
  s.preset = j.value("preset", s.preset);
  s.width = j.value("width", s.width);
  s.image_size = j.value("image_size", s.image_size);
  s.color = j.value("color", s.color);
  s.aspect = j.value("aspect", s.aspect);
  s.augment = j.value("augment", s.augment);
  s.stain_norm = j.value("stain_norm", s.stain_norm);
  s.drop_noisy = j.value("drop_noisy", s.drop_noisy);
  s.epochs = j.value("epochs", s.epochs);
  s.batch_size = j.value("batch_size", s.batch_size);
  s.optimizer = j.value("optimizer", s.optimizer);
  s.lr = j.value("lr", s.lr);
  s.weight_decay = j.value("weight_decay", s.weight_decay);
  s.momentum = j.value("momentum", s.momentum);
  s.schedule = j.value("schedule", s.schedule);
  s.warmup_epochs = j.value("warmup_epochs", s.warmup_epochs);
  s.class_weights = j.value("class_weights", s.class_weights);
  s.weighted_sampler = j.value("weighted_sampler", s.weighted_sampler);
  s.monitor = j.value("monitor", s.monitor);
  s.patience = j.value("patience", s.patience);
  s.val_fraction = j.value("val_fraction", s.val_fraction);
  s.test_fraction = j.value("test_fraction", s.test_fraction);
  s.folds = j.value("folds", s.folds);
  s.fold = j.value("fold", s.fold);
  s.target_sensitivity = j.value("target_sensitivity", s.target_sensitivity);
  s.ema = j.value("ema", s.ema);
  s.tta = j.value("tta", s.tta);
  s.positive_class = j.value("positive_class", s.positive_class);
  s.seed = j.value("seed", s.seed);
  s.threads = j.value("threads", s.threads);
  s.workers = j.value("workers", s.workers);
  s.device = j.value("device", s.device);
  s.init_from = j.value("init_from", s.init_from);
  s.cache_gb = j.value("cache_gb", s.cache_gb);
  return s;
}

// =============================================================================================
int run_train(const TrainSettings& requested) {
  TrainSettings s = requested;
  json resume_state;
  if (!requested.resume.empty()) {
    Result<std::string> text = native::read_text((fs::path(requested.resume) / "config.json").string());
    if (!text) return fail(text.error());
    const json config = json::parse(text.value(), nullptr, false);
    if (config.is_discarded() || !config.contains("settings")) return fail(make_error(ErrorCode::kCorrupt, requested.resume + "/config.json is damaged"));
    s = settings_from_json(config["settings"]);
    s.out = requested.resume;
    s.resume = requested.resume;
    s.max_epochs_this_run = requested.max_epochs_this_run;
  }
  if (s.folds > 0 && s.fold == 0) return run_cross_validation(s);
  if (s.folds > 0 && (s.folds < 2 || s.folds > 100 || s.fold < 1 || s.fold > s.folds))
    return fail(make_error(ErrorCode::kInvalidArgument, "--fold must be from 1 to --folds (2 to 100)"));
  const int threads = native::configure_torch_threads(s.threads);
  torch::Device device(torch::kCPU);
  if (s.device == "cuda" || (s.device == "auto" && torch::cuda::is_available())) {
    if (!torch::cuda::is_available()) return fail(make_error(ErrorCode::kInvalidArgument, "--device cuda: this LibTorch has no CUDA device"));
    device = torch::Device(torch::kCUDA);
  } else if (s.device != "cpu" && s.device != "auto") {
    return fail(make_error(ErrorCode::kInvalidArgument, "--device must be auto, cpu or cuda"));
  }
  if (!(s.drop_noisy >= 0.0 && s.drop_noisy < 0.5))
    return fail(make_error(ErrorCode::kInvalidArgument, "--drop-noisy is a fraction of each batch, from 0 to below 0.5"));

  // ---- data and split
  Result<data::Dataset> loaded = data::load_dataset(s.data);
  if (!loaded) return fail(loaded.error());
  if (!s.positive_class.empty()) {
    // A binary head's output is P(classes[1]): put the class of interest (e.g. Parasitized) there.
    data::Dataset& d = loaded.value();
    if (d.classes.size() != 2 || (d.classes[0] != s.positive_class && d.classes[1] != s.positive_class))
      return fail(make_error(ErrorCode::kInvalidArgument, "--positive-class " + s.positive_class + " is not one of two classes"));
    if (d.classes[0] == s.positive_class) {
      std::swap(d.classes[0], d.classes[1]);
      for (data::Sample& sample : d.samples) sample.label = 1 - sample.label;
    }
  }
  const data::Dataset& dataset = loaded.value();
  std::error_code ec;
  fs::create_directories(fs::path(s.out) / "checkpoints", ec);
  if (ec) return fail(make_error(ErrorCode::kIo, "cannot create " + s.out + ": " + ec.message()));
  const std::string split_path = (fs::path(s.out) / "split.csv").string();
  Result<data::Split> split = make_error(ErrorCode::kInternal, "no split");
  if (!s.resume.empty()) {
    split = data::read_split_csv(split_path, dataset);
  } else {
    data::SplitOptions options;
    options.val_fraction = s.val_fraction;
    options.test_fraction = s.test_fraction;
    options.seed = s.seed;
    options.folds = s.folds;
    options.fold = s.fold;
    split = data::make_split(dataset, options);
    if (split) {
      Result<bool> written = data::write_split_csv(split_path, dataset, split.value());
      if (!written) return fail(written.error());
    }
  }
  if (!split) return fail(split.error());

  Result<ModelSpec> spec = resolve_spec(s, dataset);
  if (!spec) return fail(spec.error());
  Result<augment::AugmentSpec> augmentation = augment::parse_augment(s.augment);
  if (!augmentation) return fail(augmentation.error());
  if (s.stain_norm && !spec.value().preprocess.stain.enabled) {
    Result<StainSpec> stain = training_stain_targets(dataset, split.value().train, spec.value().preprocess);
    if (!stain) return fail(stain.error());
    spec.value().preprocess.stain = stain.value();
    const StainSpec& t = stain.value();
    log_line("stain normalisation: foreground mean %.3f %.3f %.3f, std %.3f %.3f %.3f (training images)",
             t.target_mean[0], t.target_mean[1], t.target_mean[2], t.target_std[0], t.target_std[1], t.target_std[2]);
  }
  if (s.resume.empty()) {
    const json config{{"settings", settings_to_json(s)}, {"model", json::parse(model_spec_to_json(spec.value()))},
                      {"runtime", native::runtime_report()}};
    Result<bool> written = native::write_text_atomically((fs::path(s.out) / "config.json").string(), config.dump(2) + "\n");
    if (!written) return fail(written.error());
  }

  log_line("cellcam train: %zu images, %zu classes; split %zu / %zu / %zu (train/val/test)%s; %d threads on %s",
           dataset.samples.size(), dataset.classes.size(), split.value().train.size(), split.value().val.size(),
           split.value().test.size(),
           (std::string(dataset.has_groups ? " by group" : "") +
            (s.folds > 0 ? ", cross-validation fold " + std::to_string(s.fold) + " of " + std::to_string(s.folds) : ""))
               .c_str(),
           threads, device.is_cuda() ? "CUDA" : "CPU");
  std::vector<data::Skipped> skipped = dataset.skipped;
  const std::size_t cache = static_cast<std::size_t>(s.cache_gb * (1ull << 30));
  const auto t_decode = std::chrono::steady_clock::now();
  Result<ImageStore> train_store = ImageStore::build(dataset, split.value().train, spec.value().preprocess, threads, cache, &skipped);
  if (!train_store) return fail(train_store.error());
  Result<ImageStore> val_store = ImageStore::build(dataset, split.value().val, spec.value().preprocess, threads, cache, &skipped);
  if (!val_store) return fail(val_store.error());
  log_line("decoded %zu training and %zu validation images in %.1f s (%s), %zu skipped",
           train_store.value().usable().size(), val_store.value().usable().size(),
           std::chrono::duration<double>(std::chrono::steady_clock::now() - t_decode).count(),
           train_store.value().cached() ? "cached in RAM" : "decoded on demand", skipped.size());
  {
    std::ostringstream out;
    out << "path,reason\n";
    for (const data::Skipped& k : skipped) out << data::csv_field(k.path) << ',' << data::csv_field(k.reason) << '\n';
    (void)native::write_text_atomically((fs::path(s.out) / "skipped.csv").string(), out.str());
  }

  // ---- model, optimizer, schedule
  torch::manual_seed(s.seed);
  native::Network net(spec.value());
  net->to(device);
  if (!s.init_from.empty() && s.resume.empty()) {
    Result<InitReport> init = init_matching_weights(s.init_from, net);
    if (!init) return fail(init.error());
    log_line("initialised %d of %d tensors from %s", init.value().copied, init.value().total, s.init_from.c_str());
  }
  Result<std::unique_ptr<torch::optim::Optimizer>> optimizer = make_optimizer(s, net->parameters());
  if (!optimizer) return fail(optimizer.error());
  torch::optim::Optimizer& opt = *optimizer.value();

  const int batch = s.batch_size;
  const long steps_per_epoch = (static_cast<long>(train_store.value().usable().size()) + batch - 1) / batch;
  Result<ScheduleSpec> schedule = parse_schedule(s.schedule);
  if (!schedule) return fail(schedule.error());
  schedule.value().base_lr = s.lr;
  schedule.value().max_lr = s.lr;
  schedule.value().total_steps = steps_per_epoch * s.epochs;
  // Warm-up never takes the whole run (a 1-epoch run with 1 warm-up epoch would never leave it).
  schedule.value().warmup_steps =
      std::min(static_cast<long>(s.warmup_epochs * steps_per_epoch), std::max(0L, schedule.value().total_steps - 1));
  schedule.value().decay_steps = steps_per_epoch;
  schedule.value().step_size = steps_per_epoch * std::max(1, s.epochs / 3);
  Result<bool> valid = validate(schedule.value());
  if (!valid) return fail(valid.error());
  const bool per_epoch_plateau = schedule.value().kind == ScheduleKind::kReduceOnPlateau;
  std::optional<ReduceOnPlateau> plateau;
  if (per_epoch_plateau) {
    Result<ReduceOnPlateau> created =
        ReduceOnPlateau::create(schedule.value(), higher_is_better(s.monitor) ? PlateauMode::kMax : PlateauMode::kMin);
    if (!created) return fail(created.error());
    plateau = created.take();
  }

  // ---- state (fresh or resumed)
  std::vector<EpochRow> history;
  int start_epoch = 1, bad_epochs = 0, best_epoch = 0;
  double best = higher_is_better(s.monitor) ? -INFINITY : INFINITY;
  double plateau_lr = s.lr;
  const std::string last_path = (fs::path(s.out) / "checkpoints" / "last.pt").string();
  const std::string best_path = (fs::path(s.out) / "checkpoints" / "best.pt").string();
  std::optional<WeightAverage> average;
  if (s.ema > 0) average.emplace(net, s.ema);
  if (!s.resume.empty()) {
    std::vector<torch::Tensor> averaged;
    Result<json> state = load_checkpoint(last_path, net, &opt, &averaged);
    if (!state) return fail(state.error());
    if (average && !average->restore(averaged, state.value().value("average_steps", 0L)))
      return fail(make_error(ErrorCode::kCorrupt, last_path + " holds no weight average matching this model (--ema)"));
    for (const json& r : state.value()["history"]) history.push_back(row_from_json(r));
    start_epoch = state.value().value("epoch", 0) + 1;
    bad_epochs = state.value().value("bad_epochs", 0);
    best_epoch = state.value().value("best_epoch", 0);
    best = state.value().value("best", best);
    plateau_lr = state.value().value("plateau_lr", plateau_lr);
    for (const EpochRow& r : history)
      if (plateau) plateau->observe(monitored(r, s.monitor));
    log_line("resuming %s at epoch %d", s.out.c_str(), start_epoch);
  }

  const std::vector<float> class_weight = s.class_weights ? balanced_weights(dataset, train_store.value().usable())
                                                          : std::vector<float>(dataset.classes.size(), 1.0f);
  const torch::Tensor class_weight_t = torch::tensor(class_weight).to(device);
  const bool binary = spec.value().head == HeadKind::kBinary;
  LoaderOptions loader_options;
  loader_options.batch_size = batch;
  loader_options.workers = s.workers;
  loader_options.seed = s.seed;
  const bool terminal = on_terminal();

  int epochs_run = 0;
  for (int epoch = start_epoch; epoch <= s.epochs; ++epoch) {
    if (s.max_epochs_this_run > 0 && epochs_run >= s.max_epochs_this_run) break;
    torch::manual_seed(sample_seed(s.seed, epoch, -2));
    const std::vector<int> samples = s.weighted_sampler
                                         ? weighted_draw(dataset, train_store.value().usable(), sample_seed(s.seed, epoch, -3))
                                         : train_store.value().usable();
    EpochLoader loader(train_store.value(), samples, &augmentation.value(), loader_options, epoch);
    net->train();
    const auto t0 = std::chrono::steady_clock::now();
    double loss_sum = 0, weight_sum = 0, lr = per_epoch_plateau ? plateau_lr : s.lr;
    long correct = 0, seen = 0, step = static_cast<long>(epoch - 1) * steps_per_epoch;
    int batch_index = 0;
    while (std::optional<Batch> b = loader.next()) {
      if (b->size == 0) continue;
      if (!per_epoch_plateau) lr = lr_at(schedule.value(), step);
      set_lr(opt, lr);
      const torch::Tensor x = batch_images(*b, device);
      const torch::Tensor y = torch::tensor(b->labels, torch::kLong).to(device);
      opt.zero_grad();
      const torch::Tensor logits = net->forward(x);
      torch::Tensor w = class_weight_t.index_select(0, y);
      const torch::Tensor losses = sample_losses(logits, y, binary);  // (N)
      const long drop = noisy_drop_count(s, epoch, b->size);
      if (drop > 0) w = w.index_fill(0, std::get<1>(losses.detach().topk(drop)), 0.0);  // the batch's largest losses
      const torch::Tensor data_loss = (losses * w).sum() / w.sum();
      const torch::Tensor loss = data_loss + net->penalty().to(device);
      loss.backward();
      opt.step();
      if (average) average->update(net);
      const torch::Tensor predicted = binary ? (logits.squeeze(1) >= 0).to(torch::kLong) : logits.argmax(1);
      correct += predicted.eq(y).sum().item<long>();
      loss_sum += data_loss.item<double>() * b->size;
      weight_sum += b->size;
      seen += b->size;
      ++step;
      ++batch_index;
      if (terminal) {
        const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        const double rate = seen / std::max(elapsed, 1e-9);
        const int width = 28, filled = width * batch_index / std::max(1, loader.batches());
        std::fprintf(stderr, "\repoch %d/%d [%s%s] %d/%d  %.0f img/s  loss %.4f  ETA %.0f s   ", epoch, s.epochs,
                     std::string(filled, '#').c_str(), std::string(width - filled, '.').c_str(), batch_index,
                     loader.batches(), rate, loss_sum / weight_sum, (samples.size() - seen) / std::max(rate, 1e-9));
      }
    }
    if (terminal) std::fputc('\n', stderr);
    const double train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    if (average) average->swap(net);  // validate (and keep as best) the average; swapped back before last.pt
    const Predictions val = predict_store(net, val_store.value(), val_store.value().usable(), batch * 2, device);
    Result<Metrics> vm = compute_metrics(val.probs, val.labels);
    EpochRow row;
    row.epoch = epoch;
    row.lr = lr;
    row.train_loss = weight_sum > 0 ? loss_sum / weight_sum : 0;
    row.train_accuracy = seen > 0 ? static_cast<double>(correct) / seen : 0;
    row.val_loss = val.loss;
    if (vm) {
      row.val_accuracy = vm.value().accuracy;
      row.val_auc = vm.value().roc_auc;
      row.val_f1 = vm.value().macro.f1;
    }
    row.seconds = train_seconds;
    row.images_per_second = seen / std::max(train_seconds, 1e-9);
    row.data_wait_share = loader.wait_seconds() / std::max(train_seconds, 1e-9);
    history.push_back(row);
    if (plateau) plateau_lr = plateau->observe(monitored(row, s.monitor));

    const double value = monitored(row, s.monitor);
    const bool improved = higher_is_better(s.monitor) ? value > best : value < best;
    if (improved) {
      best = value;
      best_epoch = epoch;
      bad_epochs = 0;
    } else {
      ++bad_epochs;
    }
    json rows = json::array();
    for (const EpochRow& r : history) rows.push_back(row_to_json(r));
    const json state{{"epoch", epoch}, {"best", best}, {"best_epoch", best_epoch}, {"bad_epochs", bad_epochs},
                     {"plateau_lr", plateau_lr}, {"monitor", s.monitor}, {"history", rows},
                     {"average_steps", average ? average->steps() : 0L}};
    if (improved) {  // the weights just validated: the average when there is one
      Result<bool> saved = save_checkpoint(best_path, net, opt, state);
      if (!saved) return fail(saved.error());
    }
    if (average) average->swap(net);  // back to the raw weights, which keep training
    Result<bool> saved = save_checkpoint(last_path, net, opt, state, average ? &average->tensors() : nullptr);
    if (!saved) return fail(saved.error());
    (void)native::write_text_atomically((fs::path(s.out) / "metrics.csv").string(), metrics_csv(history));
    log_line("epoch %d/%d  lr %.2e  train loss %.4f acc %.4f  val loss %.4f acc %.4f auc %.4f  %.0f img/s  data wait %.0f%%%s",
             epoch, s.epochs, row.lr, row.train_loss, row.train_accuracy, row.val_loss, row.val_accuracy, row.val_auc,
             row.images_per_second, 100 * row.data_wait_share, improved ? "  *best" : "");
    ++epochs_run;
    if (s.patience > 0 && bad_epochs >= s.patience) {
      log_line("early stop: %s has not improved for %d epochs (best %.4f at epoch %d)", s.monitor.c_str(), bad_epochs, best, best_epoch);
      break;
    }
  }
  if (s.max_epochs_this_run > 0 && start_epoch + epochs_run <= s.epochs && !(s.patience > 0 && bad_epochs >= s.patience)) {
    log_line("stopped after %d epochs as asked; continue with: cellcam train --resume %s", epochs_run, s.out.c_str());
    return 0;
  }

  // ---- final report: the best checkpoint, its operating threshold on validation, then test.
  if (best_epoch > 0) {
    Result<json> state = load_checkpoint(best_path, net, nullptr);
    if (!state) return fail(state.error());
  }
  json report{{"run", s.out}, {"model", spec.value().name}, {"classes", dataset.classes},
              {"best_epoch", best_epoch}, {"monitor", s.monitor}, {"epochs_run", history.size()}};
  const Predictions val = predict_store(net, val_store.value(), val_store.value().usable(), batch * 2, device, s.tta);
  report["tta"] = s.tta;
  double threshold = 0.5;
  if (binary && !val.labels.empty()) {
    std::vector<float> scores;
    for (const auto& p : val.probs) scores.push_back(p[1]);
    Result<OperatingPoint> op = s.target_sensitivity > 0 ? threshold_for_sensitivity(scores, val.labels, s.target_sensitivity)
                                                         : youden_threshold(scores, val.labels);
    if (op) {
      threshold = op.value().threshold;
      report["threshold"] = {{"value", threshold},
                             {"chosen_by", s.target_sensitivity > 0 ? "target sensitivity on validation" : "Youden's J on validation"},
                             {"validation_sensitivity", op.value().sensitivity},
                             {"validation_specificity", op.value().specificity}};
    }
  }
  Result<Metrics> val_metrics = compute_metrics(val.probs, val.labels, threshold);
  if (val_metrics) report["validation"] = metrics_json(val_metrics.value(), dataset.classes, val.loss);
  Result<ImageStore> test_store = ImageStore::build(dataset, split.value().test, spec.value().preprocess, threads, cache, &skipped);
  std::optional<Predictions> test_predictions;
  std::optional<Metrics> test_metrics;
  if (test_store && !test_store.value().usable().empty()) {
    test_predictions = predict_store(net, test_store.value(), test_store.value().usable(), batch * 2, device, s.tta);
    Result<Metrics> tm = compute_metrics(test_predictions->probs, test_predictions->labels, threshold);
    if (tm) {
      test_metrics = tm.value();
      report["test"] = metrics_json(tm.value(), dataset.classes, test_predictions->loss);
      log_line("test: accuracy %.4f  ROC-AUC %.4f  macro F1 %.4f  (%zu images, threshold %.3f)", tm.value().accuracy,
               tm.value().roc_auc, tm.value().macro.f1, test_predictions->labels.size(), threshold);
    }
  }
  report["split"] = {{"train", split.value().train.size()}, {"val", split.value().val.size()}, {"test", split.value().test.size()}};
  report["grouped"] = dataset.has_groups;
  report["skipped"] = skipped.size();
  {
    long long parameters = 0;
    for (const auto& p : net->parameters()) parameters += p.numel();
    report["parameters"] = parameters;
  }
  json rows = json::array();
  for (const EpochRow& r : history) rows.push_back(row_to_json(r));
  report["history"] = rows;

  // ---- plots (drawn here, no plotting library) and report.md
  std::vector<double> epochs, train_loss, val_loss, train_acc, val_acc;
  for (const EpochRow& r : history) {
    epochs.push_back(r.epoch);
    train_loss.push_back(r.train_loss);
    val_loss.push_back(r.val_loss);
    train_acc.push_back(r.train_accuracy);
    val_acc.push_back(r.val_accuracy);
  }
  const fs::path out_dir(s.out);
  std::vector<Result<bool>> drawn;
  drawn.push_back(report::plot_training_curves((out_dir / "training_curves.png").string(), epochs, train_loss, val_loss, train_acc, val_acc));
  std::vector<report::Series> curves = roc_series(val, dataset.classes, "validation");
  if (test_predictions) {
    for (report::Series& c : roc_series(*test_predictions, dataset.classes, "test")) curves.push_back(c);
    if (test_metrics)
      drawn.push_back(report::plot_confusion((out_dir / "confusion_test.png").string(), dataset.classes, test_metrics->confusion.counts));
  }
  if (!curves.empty()) drawn.push_back(report::plot_roc((out_dir / "roc.png").string(), curves));
  for (const Result<bool>& d : drawn)
    if (!d) log_line("warning: a plot was not drawn: %s", d.error().message.c_str());
  (void)native::write_text_atomically((out_dir / "report.md").string(), report_markdown(report, s));
  Result<bool> written = native::write_text_atomically((fs::path(s.out) / "report.json").string(), report.dump(2) + "\n");
  if (!written) return fail(written.error());
  log_line("run folder: %s (best %s %.4f at epoch %d)", s.out.c_str(), s.monitor.c_str(), best, best_epoch);
  return 0;
}

}  // namespace cellcam::train
