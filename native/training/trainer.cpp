// trainer.cpp — `cellcam train` on LibTorch (see trainer.h for the run folder), in three steps:
//   set_up     data, split, model spec, image stores, network, optimizer, schedule (and a resumed run's state)
//   run_epoch  one training pass, then validation, early-stopping bookkeeping, best.pt / last.pt / metrics.csv
//   finish     the best checkpoint's threshold on validation, the test split, report.json / report.md, plots
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
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <sstream>

#include "augment.h"
#include "batch_mixing.h"
#include "distillation.h"
#include "train_config.h"
#include "cellcam/model_spec.h"
#include "checkpoint.h"
#include "cross_validation.h"
#include "dataset.h"
#include "file_io.h"
#include "image_store.h"
#include "metrics.h"
#include "metrics_json.h"
#include "trained_model.h"
#include "network.h"
#include "plot.h"
#include "predictions.h"
#include "process_group.h"
#include "run_report.h"
#include "runtime.h"
#include "schedule.h"
#include "shard.h"
#include "split.h"
#include "stain_targets.h"
#include "weight_average.h"

namespace cellcam::train {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// ---------------------------------------------------------------------------------------------
// Small utilities

// In a distributed run only rank 0 talks; the others speak up only for an error of their own.
int g_rank = 0;
const dist::Group* g_group = nullptr;

void log_line(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void log_line(const char* fmt, ...) {
  if (g_rank != 0) return;
  va_list ap;
  va_start(ap, fmt);
  std::vfprintf(stderr, fmt, ap);
  va_end(ap);
  std::fputc('\n', stderr);
}

int fail(const Error& e) {
  if (g_rank == 0) {
    std::fprintf(stderr, "cellcam train: %s\n", e.message.c_str());
  } else if (!(g_group && g_group->reported_by_rank0())) {  // rank 0 reports what every rank saw
    std::fprintf(stderr, "cellcam train: [rank %d] %s\n", g_rank, e.message.c_str());
  }
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

bool on_terminal() { return isatty(fileno(stderr)) != 0; }

// ---------------------------------------------------------------------------------------------
// The run between its steps

// What set_up builds and the epochs and finish use. Lives on run_train's stack and is never moved: the
// image stores point at `dataset`.
struct Run {
  TrainSettings s;
  dist::Group* group = nullptr;  // a world of one for a plain training
  bool rank0 = true;             // the one writer: only rank 0 touches the run folder
  int threads = 1;
  torch::Device device{torch::kCPU};
  data::Dataset dataset;
  data::Split split;
  ModelSpec spec;
  augment::AugmentSpec augmentation;
  std::vector<data::Skipped> skipped;
  std::vector<std::string> warnings;  // shown on the console and kept in report.json / report.md
  std::size_t cache = 0;  // bytes of decoded images kept in RAM
  std::optional<ImageStore> train_store, val_store;
  native::Network net{nullptr};
  std::unique_ptr<torch::optim::Optimizer> opt;
  ScheduleSpec schedule;
  long steps_per_epoch = 0;
  bool per_epoch_plateau = false;
  std::optional<ReduceOnPlateau> plateau;
  std::optional<WeightAverage> average;
  std::optional<Teacher> teacher;  // --teacher
  torch::Tensor class_weight;  // (classes)
  bool binary = true;
  LoaderOptions loader_options;
  std::string last_path, best_path;
  bool from_checkpoint = false;  // a resumed run that has a last.pt (one killed during epoch 1 has none)
  // Progress, saved in every checkpoint's state.
  std::vector<EpochRow> history;
  int start_epoch = 1, bad_epochs = 0, best_epoch = 0;
  double best = 0.0, plateau_lr = 0.0;
  double comm_seconds = 0.0, step_seconds = 0.0;  // this process: in collectives while training, and in all
  std::string epoch_steps;  // this epoch's rows of steps.csv
};

Result<bool> ok_or(const Error* e) { return e ? Result<bool>(*e) : Result<bool>(true); }

// The settings of this process: as asked, or a resumed run's config.json (with this process's budget).
Result<TrainSettings> resolve_settings(const TrainSettings& requested) {
  if (requested.resume.empty()) return requested;
  std::error_code ec;
  if (!fs::is_directory(requested.resume, ec))
    return make_error(ErrorCode::kIo, "--resume " + requested.resume + ": no such run folder");
  if (!fs::exists(fs::path(requested.resume) / "config.json", ec))
    return make_error(ErrorCode::kIo, requested.resume + " has no config.json: the run stopped before its settings were written; "
                                                         "start it again with `cellcam train DATA --out " + requested.resume + " --force`");
  Result<std::string> text = native::read_text((fs::path(requested.resume) / "config.json").string());
  if (!text) return text.error();
  const json config = json::parse(text.value(), nullptr, false);
  if (config.is_discarded() || !config.contains("settings"))
    return make_error(ErrorCode::kCorrupt, requested.resume + "/config.json is damaged");
  TrainSettings s;
  try {
    s = settings_from_json(config["settings"]);
  } catch (const json::exception& e) {
    return make_error(ErrorCode::kCorrupt, requested.resume + "/config.json has a mistyped setting: " + e.what());
  }
  s.out = requested.resume;
  s.resume = requested.resume;
  s.max_epochs_this_run = requested.max_epochs_this_run;
  return s;
}

Result<torch::Device> choose_device(const TrainSettings& s) {
  if (s.device == "cuda" || (s.device == "auto" && torch::cuda::is_available())) {
    if (!torch::cuda::is_available()) return make_error(ErrorCode::kInvalidArgument, "--device cuda: this LibTorch has no CUDA device");
    return torch::Device(torch::kCUDA);
  }
  if (s.device != "cpu" && s.device != "auto") return make_error(ErrorCode::kInvalidArgument, "--device must be auto, cpu or cuda");
  return torch::Device(torch::kCPU);
}

// ---------------------------------------------------------------------------------------------
// Set-up: data, split, spec, stores, model, optimizer, schedule, and the state of a resumed run

Result<data::Dataset> load_training_data(const TrainSettings& s) {
  Result<data::Dataset> loaded = data::load_dataset(s.data);
  if (!loaded) return loaded;
  if (!s.classes.empty()) {
    // Fine-tuning: the base model's classes in its order; the data may lack some of them.
    data::Dataset& d = loaded.value();
    std::vector<int> to_fixed(d.classes.size(), -1);
    for (std::size_t c = 0; c < d.classes.size(); ++c) {
      const auto at = std::find(s.classes.begin(), s.classes.end(), d.classes[c]);
      if (at == s.classes.end()) {
        std::string known;
        for (const std::string& k : s.classes) known += (known.empty() ? "" : ", ") + k;
        return make_error(ErrorCode::kInvalidArgument, s.data + ": class \"" + d.classes[c] + "\" is not one of the model's classes (" + known + ")");
      }
      to_fixed[c] = static_cast<int>(at - s.classes.begin());
    }
    for (data::Sample& sample : d.samples) sample.label = to_fixed[static_cast<std::size_t>(sample.label)];
    d.classes = s.classes;
    return loaded;
  }
  if (!s.positive_class.empty()) {
    // A binary head's output is P(classes[1]): put the class of interest (e.g. Parasitized) there.
    data::Dataset& d = loaded.value();
    if (d.classes.size() != 2 || (d.classes[0] != s.positive_class && d.classes[1] != s.positive_class))
      return make_error(ErrorCode::kInvalidArgument, "--positive-class " + s.positive_class + " is not one of two classes");
    if (d.classes[0] == s.positive_class) {
      std::swap(d.classes[0], d.classes[1]);
      for (data::Sample& sample : d.samples) sample.label = 1 - sample.label;
    }
  }
  return loaded;
}

// A fresh run makes its split and writes RUN/split.csv; a resumed one reads it back.
Result<data::Split> split_for_run(const TrainSettings& s, const data::Dataset& dataset) {
  std::error_code ec;
  fs::create_directories(fs::path(s.out) / "checkpoints", ec);
  if (ec) return make_error(ErrorCode::kIo, "cannot create " + s.out + ": " + ec.message());
  const std::string split_path = (fs::path(s.out) / "split.csv").string();
  if (!s.resume.empty()) return data::read_split_csv(split_path, dataset);
  data::SplitOptions options;
  options.val_fraction = s.val_fraction;
  options.test_fraction = s.test_fraction;
  options.seed = s.seed;
  options.folds = s.folds;
  options.fold = s.fold;
  Result<data::Split> split = data::make_split(dataset, options);
  if (split) {
    Result<bool> written = data::write_split_csv(split_path, dataset, split.value());
    if (!written) return written.error();
  }
  return split;
}

// A short fingerprint of the data as this rank reads it (file names, labels, groups), so that a rank that
// reads other data than rank 0 (another folder, a copy out of date) is refused before training starts.
std::string data_fingerprint(const data::Dataset& d) {
  std::string all;
  for (const data::Sample& x : d.samples)
    all += fs::path(x.path).filename().string() + '\t' + std::to_string(x.label) + '\t' + x.group + '\n';
  return std::to_string(d.samples.size()) + " images, hash " + std::to_string(std::hash<std::string>{}(all));
}

// Rank 0 makes (or, resuming, reads) the split and writes split.csv; the others receive it.
Result<bool> share_split(Run& run) {
  dist::Group& g = *run.group;
  std::string text;
  Result<bool> mine = true;
  if (run.rank0) {
    Result<data::Split> split = split_for_run(run.s, run.dataset);
    if (split) {
      run.split = split.take();
      text = json{{"train", run.split.train}, {"val", run.split.val}, {"test", run.split.test},
                  {"data", data_fingerprint(run.dataset)}}.dump();
    } else {
      mine = split.error();
    }
  }
  Result<bool> agreed = g.agree(mine, "making the split");
  if (!agreed || !g.distributed()) return agreed;
  Result<bool> sent = g.broadcast_bytes(text, "sending the split");
  if (!sent) return sent;
  if (!run.rank0) {
    const json j = json::parse(text);
    const std::string mine_data = data_fingerprint(run.dataset), zero = j.at("data").get<std::string>();
    if (mine_data != zero)
      mine = make_error(ErrorCode::kInvalidArgument, "rank " + std::to_string(g.rank()) + " reads other data in " + run.s.data +
                                                         " than rank 0 (" + mine_data + " against " + zero +
                                                         "): every machine needs the same dataset at that path");
    run.split.train = j.at("train").get<std::vector<int>>();
    run.split.val = j.at("val").get<std::vector<int>>();
    run.split.test = j.at("test").get<std::vector<int>>();
  }
  return g.agree(mine, "checking that every rank reads the same data");
}

// The model spec (with --stain-norm's targets) and the augmentation; a fresh run writes config.json.
Result<bool> set_up_spec(Run& run) {
  const TrainSettings& s = run.s;
  Result<ModelSpec> spec = resolve_spec(s, run.dataset);
  if (!spec) return spec.error();
  run.spec = spec.take();
  Result<augment::AugmentSpec> augmentation = augment::parse_augment(s.augment);
  if (!augmentation) return augmentation.error();
  run.augmentation = augmentation.take();
  // --stain-method reinhard|macenko alone means stain normalisation too, rather than being silently ignored.
  const bool stain_norm = s.stain_norm || s.stain_method != "rgb";
  if (stain_norm && !run.spec.preprocess.stain.enabled) {
    Result<StainSpec> stain = training_stain_targets(run.dataset, run.split.train, run.spec.preprocess, s.stain_method);
    if (!stain) return stain.error();
    run.spec.preprocess.stain = stain.value();
    log_line("%s", describe_stain_targets(stain.value()).c_str());
  }
  if (s.resume.empty()) {
    json config{{"settings", settings_to_json(s)}, {"model", json::parse(model_spec_to_json(run.spec))},
                {"runtime", native::runtime_report()}};
    if (run.group->distributed())
      config["distributed"] = {{"world_size", run.group->world()}, {"backend", run.group->backend()},
                               {"batch_size_per_rank", s.batch_size}, {"global_batch_size", s.batch_size * run.group->world()},
                               {"batch_norm", s.dist.sync_batch_norm ? "synchronised" : "per rank"}};
    Result<bool> written = native::write_text_atomically((fs::path(s.out) / "config.json").string(), config.dump(2) + "\n");
    if (!written) return written.error();
    written = native::write_text_atomically((fs::path(s.out) / "config.toml").string(), settings_to_toml(s));  // --config reads it
    if (!written) return written.error();
    written = write_run_card(s.out);  // RUN/model.json from the first epoch on
    if (!written) return written.error();
  }
  return true;
}

// Rank 0 resolves the spec (and measures --stain-norm's targets) and writes config.json; the others
// receive the spec, so every rank builds the same network from the same preprocessing.
Result<bool> share_spec(Run& run) {
  dist::Group& g = *run.group;
  Result<bool> mine = true;
  std::string text;
  if (run.rank0) {
    mine = set_up_spec(run);
    if (mine) text = model_spec_to_json(run.spec);
  }
  Result<bool> agreed = g.agree(mine, "resolving the model spec");
  if (!agreed || !g.distributed()) return agreed;
  Result<bool> sent = g.broadcast_bytes(text, "sending the model spec");
  if (!sent) return sent;
  if (!run.rank0) {
    Result<ModelSpec> spec = parse_model_spec(text);
    Result<augment::AugmentSpec> augmentation = augment::parse_augment(run.s.augment);
    if (spec && augmentation) {
      run.spec = spec.take();
      run.augmentation = augmentation.take();
    }
    mine = !spec ? Result<bool>(spec.error()) : !augmentation ? Result<bool>(augmentation.error()) : Result<bool>(true);
  }
  return g.agree(mine, "receiving the model spec");
}

// RUN/skipped.csv: every image that could not be used, with its reason (rewritten when the test images
// have been read too, so report.md's count and the file agree).
Result<bool> write_skipped(const Run& run) {
  if (!run.rank0) return true;
  std::ostringstream out;
  out << "path,reason\n";
  for (const data::Skipped& k : run.skipped) out << data::csv_field(k.path) << ',' << data::csv_field(k.reason) << '\n';
  return native::write_text_atomically((fs::path(run.s.out) / "skipped.csv").string(), out.str());
}

// The rule for classes too small to split: a split is refused when its validation part is empty or a
// class has no training image (nothing to learn it from); a class missing from the validation or test
// part is trained on, with a warning that its metrics there are undefined (n/a in the report).
Result<bool> check_split(const Run& run, std::vector<std::string>& warnings) {
  const std::vector<std::string>& classes = run.dataset.classes;
  if (run.split.val.empty())
    return make_error(ErrorCode::kInvalidArgument, "the validation part is empty (" + std::to_string(run.dataset.samples.size()) +
                                                       " images): give more images or a larger --val-fraction");
  auto counts = [&](const std::vector<int>& part) {
    std::vector<int> n(classes.size(), 0);
    for (int i : part) ++n[run.dataset.samples[i].label];
    return n;
  };
  const std::vector<int> train = counts(run.split.train), val = counts(run.split.val), test = counts(run.split.test);
  for (std::size_t c = 0; c < classes.size(); ++c) {
    const int total = train[c] + val[c] + test[c];
    if (train[c] == 0 && !run.s.classes.empty()) {  // fine-tuning: the base model already knows the class
      warnings.push_back("class \"" + classes[c] + "\" has no training image here: the fine-tuning does not train on it");
      continue;
    }
    if (train[c] == 0)
      return make_error(ErrorCode::kInvalidArgument, "class \"" + classes[c] + "\" has " + std::to_string(total) +
                                                         " image(s) and none in the training part: give it more images");
    std::string missing;
    if (val[c] == 0) missing = "validation";
    if (test[c] == 0 && !run.split.test.empty()) missing += std::string(missing.empty() ? "" : " and ") + "test";
    if (!missing.empty())
      warnings.push_back("class \"" + classes[c] + "\" has only " + std::to_string(total) + " image(s), none in the " + missing +
                         " part: its metrics there are undefined (n/a)");
  }
  for (const std::string& w : warnings) log_line("warning: %s", w.c_str());
  return true;
}

// Decodes the training and validation images once; what could not be read goes to RUN/skipped.csv.
Result<bool> set_up_stores(Run& run) {
  const TrainSettings& s = run.s;
  run.skipped = run.dataset.skipped;
  run.cache = static_cast<std::size_t>(s.cache_gb * (1ull << 30));
  const auto t_decode = std::chrono::steady_clock::now();
  Result<ImageStore> train_store =
      ImageStore::build(run.dataset, run.split.train, run.spec.preprocess, run.threads, run.cache, &run.skipped);
  if (!train_store) return train_store.error();
  run.train_store = train_store.take();
  Result<ImageStore> val_store = ImageStore::build(run.dataset, run.split.val, run.spec.preprocess, run.threads, run.cache, &run.skipped);
  if (!val_store) return val_store.error();
  run.val_store = val_store.take();
  log_line("decoded %zu training and %zu validation images in %.1f s (%s), %zu skipped", run.train_store->usable().size(),
           run.val_store->usable().size(), std::chrono::duration<double>(std::chrono::steady_clock::now() - t_decode).count(),
           run.train_store->cached() ? "cached in RAM" : "decoded on demand", run.skipped.size());
  if (run.val_store->usable().empty())
    return make_error(ErrorCode::kInvalidArgument, "no validation image could be read (" + std::to_string(run.split.val.size()) +
                                                       " in the validation part; see " + s.out + "/skipped.csv)");
  if (run.train_store->usable().empty())
    return make_error(ErrorCode::kInvalidArgument, "no training image could be read (see " + s.out + "/skipped.csv)");
  return write_skipped(run);
}

// Rank 0's parameters and buffers (batch-norm statistics) into every rank's network.
Result<bool> broadcast_weights(Run& run, const char* what) {
  if (!run.group->distributed()) return true;
  std::vector<torch::Tensor> tensors;
  for (const torch::Tensor& p : run.net->parameters()) tensors.push_back(p.data());
  for (const torch::Tensor& b : run.net->buffers()) tensors.push_back(b);
  torch::NoGradGuard no_grad;
  return run.group->broadcast(tensors, what);
}

// The network (seeded; --init-from), its optimizer and the learning-rate schedule.
// --teacher: loaded by every rank (before the student is built, so the student's initial weights do not
// depend on whether there is a teacher).
Result<bool> set_up_teacher(Run& run) {
  const TrainSettings& s = run.s;
  Result<bool> opened = true;
  if (!s.teacher.empty()) {
    Result<Teacher> t = Teacher::open(s.teacher, run.spec.preprocess, run.spec.classes, run.device);
    if (t) run.teacher = t.take();
    else opened = t.error();
  }
  opened = run.group->agree(opened, "--teacher");
  if (opened && run.teacher)
    log_line("distilling from %s: loss = %.2g * label loss + %.2g * T^2 * KL, T = %g", run.teacher->describe().c_str(),
             1.0 - s.distill_weight, s.distill_weight, s.distill_temperature);
  return opened;
}

Result<bool> set_up_model(Run& run) {
  const TrainSettings& s = run.s;
  torch::manual_seed(s.seed);
  run.net = native::Network(run.spec);
  run.net->to(run.device);
  Result<bool> initialised = true;
  if (!s.init_from.empty() && !run.from_checkpoint && run.rank0) {  // rank 0's weights go to every rank below
    Result<InitReport> init = init_matching_weights(s.init_from, run.net);
    if (init) log_line("initialised %d of %d tensors from %s", init.value().copied, init.value().total, s.init_from.c_str());
    else initialised = init.error();
  }
  initialised = run.group->agree(initialised, "--init-from");
  if (!initialised) return initialised;
  initialised = broadcast_weights(run, "sending the initial weights");
  if (!initialised) return initialised;
  if (s.dist.sync_batch_norm && run.group->distributed()) {
    dist::Group* group = run.group;
    const int synced = run.net->synchronise_batch_norm([group](torch::Tensor& t) {
      Result<bool> summed = group->sum_tensor(t, "synchronised batch norm");
      if (!summed) throw std::runtime_error(summed.error().message);  // caught in train_pass
    });
    log_line("batch norm: %d layers take their statistics over all %d ranks (--sync-bn)", synced, run.group->world());
  }
  Result<std::unique_ptr<torch::optim::Optimizer>> optimizer = make_optimizer(s, run.net->parameters());
  if (!optimizer) return optimizer.error();
  run.opt = optimizer.take();

  // Every rank takes the same number of steps: its padded shard of the epoch, in batches.
  const long shard = static_cast<long>(
      dist::shard_of(std::vector<int>(run.train_store->usable().size()), run.group->rank(), run.group->world()).size());
  run.steps_per_epoch = (shard + s.batch_size - 1) / s.batch_size;
  Result<ScheduleSpec> schedule = parse_schedule(s.schedule);
  if (!schedule) return schedule.error();
  run.schedule = schedule.take();
  ScheduleSpec& sc = run.schedule;
  sc.base_lr = s.lr;
  sc.max_lr = s.lr;
  sc.total_steps = run.steps_per_epoch * s.epochs;
  // Warm-up never takes the whole run (a 1-epoch run with 1 warm-up epoch would never leave it).
  sc.warmup_steps = std::min(static_cast<long>(s.warmup_epochs * run.steps_per_epoch), std::max(0L, sc.total_steps - 1));
  sc.decay_steps = run.steps_per_epoch;
  sc.step_size = run.steps_per_epoch * std::max(1, s.epochs / 3);
  Result<bool> valid = validate(sc);
  if (!valid) return valid.error();
  run.per_epoch_plateau = sc.kind == ScheduleKind::kReduceOnPlateau;
  if (run.per_epoch_plateau) {
    Result<ReduceOnPlateau> created =
        ReduceOnPlateau::create(sc, higher_is_better(s.monitor) ? PlateauMode::kMax : PlateauMode::kMin);
    if (!created) return created.error();
    run.plateau = created.take();
  }
  return true;
}

// The progress state: fresh, or a resumed run's from its last checkpoint (weights, optimizer, average).
Result<bool> set_up_state(Run& run) {
  const TrainSettings& s = run.s;
  run.best = higher_is_better(s.monitor) ? -INFINITY : INFINITY;
  run.plateau_lr = s.lr;
  run.last_path = (fs::path(s.out) / "checkpoints" / "last.pt").string();
  run.best_path = (fs::path(s.out) / "checkpoints" / "best.pt").string();
  if (s.ema > 0) run.average.emplace(run.net, s.ema);
  if (!s.resume.empty() && !run.from_checkpoint)
    log_line("%s has no checkpoint yet (it stopped during its first epoch): starting it over from epoch 1 with its settings "
             "and split", s.out.c_str());
  if (run.from_checkpoint) {
    // Rank 0 reads last.pt and sends it: the other ranks need no access to the run folder.
    std::string bytes, state_text;
    Result<bool> read = true;
    if (run.rank0) {
      Result<std::vector<std::uint8_t>> file = native::read_file(run.last_path);
      Result<std::string> text = native::read_text(run.last_path + ".json");
      if (file && text) {
        bytes.assign(file.value().begin(), file.value().end());
        state_text = text.take();
      }
      read = !file ? Result<bool>(file.error()) : !text ? Result<bool>(text.error()) : Result<bool>(true);
    }
    read = run.group->agree(read, "reading the last checkpoint");
    if (read) read = run.group->broadcast_bytes(bytes, "sending the last checkpoint");
    if (read) read = run.group->broadcast_bytes(state_text, "sending the last checkpoint's state");
    if (!read) return read;
    std::vector<torch::Tensor> averaged;
    Result<json> state = load_checkpoint_bytes(bytes, state_text, run.last_path, run.net, run.opt.get(), &averaged);
    Result<bool> loaded = run.group->agree(state ? Result<bool>(true) : Result<bool>(state.error()), "loading the last checkpoint");
    if (!loaded) return loaded;
    if (run.average && !run.average->restore(averaged, state.value().value("average_steps", 0L)))
      return make_error(ErrorCode::kCorrupt, run.last_path + " holds no weight average matching this model (--ema)");
    for (const json& r : state.value()["history"]) run.history.push_back(row_from_json(r));
    run.start_epoch = state.value().value("epoch", 0) + 1;
    run.bad_epochs = state.value().value("bad_epochs", 0);
    run.best_epoch = state.value().value("best_epoch", 0);
    run.best = state.value().value("best", run.best);
    run.plateau_lr = state.value().value("plateau_lr", run.plateau_lr);
    for (const EpochRow& r : run.history)
      if (run.plateau) run.plateau->observe(monitored(r, s.monitor));
    log_line("resuming %s at epoch %d", s.out.c_str(), run.start_epoch);
  }
  const std::vector<float> class_weight = s.class_weights ? balanced_weights(run.dataset, run.train_store->usable())
                                                          : std::vector<float>(run.dataset.classes.size(), 1.0f);
  run.class_weight = torch::tensor(class_weight).to(run.device);
  run.binary = run.spec.head == HeadKind::kBinary;
  run.loader_options.batch_size = s.batch_size;
  run.loader_options.workers = s.workers;
  run.loader_options.seed = s.seed;
  run.loader_options.shuffle = false;  // train_pass shuffles the whole epoch, then takes this rank's shard
  return true;
}

Result<bool> set_up(Run& run) {
  const TrainSettings& s = run.s;
  dist::Group& g = *run.group;
  Result<data::Dataset> loaded = load_training_data(s);
  Result<bool> done = g.agree(loaded ? Result<bool>(true) : Result<bool>(loaded.error()), "reading the data");
  if (!done) return done;
  run.dataset = loaded.take();
  done = share_split(run);
  if (!done) return done;
  done = check_split(run, run.warnings);
  if (!done) return done;
  done = share_spec(run);
  if (!done) return done;
  log_line("cellcam train: %zu images, %zu classes; split %zu / %zu / %zu (train/val/test)%s; %d threads on %s",
           run.dataset.samples.size(), run.dataset.classes.size(), run.split.train.size(), run.split.val.size(),
           run.split.test.size(),
           (std::string(run.dataset.has_groups ? " by group" : "") +
            (s.folds > 0 ? ", cross-validation fold " + std::to_string(s.fold) + " of " + std::to_string(s.folds) : ""))
               .c_str(),
           run.threads, run.device.is_cuda() ? "CUDA" : "CPU");
  if (g.distributed())
    log_line("distributed: %d ranks (%s), %d images a batch on each, %d a step in all; the learning rate is not rescaled",
             g.world(), g.backend().c_str(), s.batch_size, s.batch_size * g.world());
  done = set_up_stores(run);
  done = g.agree(done, "decoding the images");
  if (done) done = set_up_teacher(run);
  if (done) done = set_up_model(run);
  if (done) done = set_up_state(run);
  return done;
}

// ---------------------------------------------------------------------------------------------
// One epoch: a training pass, then validation, early-stopping bookkeeping and the checkpoints

// A loss that is not a number ends the run: the weights would be garbage from here on, and the last
// checkpoint (the previous epoch's) is still the last good one.
Error diverged(const Run& run, const std::string& where, double value, double lr) {
  char text[512];
  std::snprintf(text, sizeof text,
                "training diverged: the %s is %g at learning rate %.3g; lower --lr (or add --warmup-epochs). %s",
                where.c_str(), value, lr,
                run.history.empty() ? "No checkpoint was written."
                                    : ("The last good checkpoint (epoch " + std::to_string(run.history.back().epoch) +
                                       ") is kept: " + run.last_path).c_str());
  return make_error(ErrorCode::kInvalidArgument, text);
}

// The training pass over (a draw of) the training images; fills the row's training columns.
Result<bool> train_pass(Run& run, int epoch, EpochRow& row) {
  const TrainSettings& s = run.s;
  torch::manual_seed(sample_seed(s.seed, epoch, -2));
  dist::Group& g = *run.group;
  std::vector<int> order = s.weighted_sampler
                               ? weighted_draw(run.dataset, run.train_store->usable(), sample_seed(s.seed, epoch, -3))
                               : run.train_store->usable();
  shuffle_in_place(order, sample_seed(s.seed, epoch, -1));  // the same on every rank: a new order each epoch
  const std::vector<int> samples = dist::shard_of(order, g.rank(), g.world());
  EpochLoader loader(*run.train_store, samples, &run.augmentation, run.loader_options, epoch);
  const MixSettings mix{s.mixup, s.cutmix, s.mix_prob};
  const int classes = static_cast<int>(run.dataset.classes.size());
  const double comm_before = g.communication_seconds();
  run.net->train();
  const bool terminal = on_terminal();
  const auto t0 = std::chrono::steady_clock::now();
  double loss_sum = 0, weight_sum = 0, lr = run.per_epoch_plateau ? run.plateau_lr : s.lr;
  long correct = 0, seen = 0, step = static_cast<long>(epoch - 1) * run.steps_per_epoch;
  int batch_index = 0;
  run.epoch_steps.clear();
  while (std::optional<Batch> b = loader.next()) {
    if (b->size == 0) continue;
    if (!run.per_epoch_plateau) lr = lr_at(run.schedule, step);
    set_lr(*run.opt, lr);
    // --mixup/--cutmix: seeded by (seed, epoch, batch, rank), so a resumed run mixes as an uninterrupted one.
    const MixPlan plan = draw_mix_plan(mix, b->size, b->height, b->width,
                                       sample_seed(sample_seed(s.seed, epoch, -4), batch_index, g.rank()));
    const torch::Tensor x = mix_images(batch_images(*b, run.device), plan);  // (N,C,H,W)
    const torch::Tensor y = torch::tensor(b->labels, torch::kLong).to(run.device);  // (N) hard labels: accuracy
    run.opt->zero_grad();
    torch::Tensor logits;
    try {  // with --sync-bn the forward pass talks to the other ranks, and may hear that one died
      logits = run.net->forward(x);
    } catch (const std::exception& e) {
      return make_error(ErrorCode::kIo, native::first_line(e.what()));
    }
    torch::Tensor w = mixed_sample_weights(run.class_weight, y, plan);  // (N)
    const bool soft = plan.mode != MixPlan::Mode::kNone || s.label_smoothing > 0.0;
    torch::Tensor losses =
        soft ? soft_target_losses(logits, soft_targets(y, plan, classes, run.binary, s.label_smoothing), run.binary)
             : sample_losses(logits, y, run.binary);  // (N)
    if (run.teacher) {  // on the same (augmented, mixed) images the student sees
      torch::Tensor p;  // (N,K)
      try {
        p = run.teacher->probabilities(x, s.distill_temperature);
      } catch (const std::exception& e) {
        return make_error(ErrorCode::kInvalidArgument, native::first_line(e.what()));
      }
      losses = losses * (1.0 - s.distill_weight) +
               distillation_losses(logits, p, s.distill_temperature, run.binary) * s.distill_weight;
    }
    const long drop = noisy_drop_count(s, epoch, b->size);
    if (drop > 0) w = w.index_fill(0, std::get<1>(losses.detach().topk(drop)), 0.0);  // the batch's largest losses
    torch::Tensor data_loss = (losses * w).sum() / w.sum();
    double batch_loss = 0.0;
    if (g.distributed()) {
      // The loss of the global batch: each rank's weighted sum over the weights of all ranks, times the
      // world size, so that averaging the gradients gives the gradient of the global batch's mean.
      const torch::Tensor weighted_sum = (losses * w).sum();
      std::vector<double> sums{weighted_sum.item<double>(), w.sum().item<double>()};
      Result<bool> summed = g.sum(sums, "the loss all-reduce");
      if (!summed) return summed;
      data_loss = weighted_sum * (g.world() / sums[1]);
      batch_loss = sums[0] / sums[1];
    } else {
      batch_loss = data_loss.item<double>();
    }
    const torch::Tensor loss = data_loss + run.net->penalty().to(run.device);
    if (!std::isfinite(batch_loss)) {
      if (terminal) std::fputc('\n', stderr);
      return diverged(run, "training loss in epoch " + std::to_string(epoch) + ", batch " + std::to_string(batch_index + 1),
                      batch_loss, lr);
    }
    char step_row[128];
    std::snprintf(step_row, sizeof step_row, "%d,%ld,%.9g,%.9g\n", epoch, step + 1, lr, batch_loss);
    run.epoch_steps += step_row;
    try {
      loss.backward();
    } catch (const std::exception& e) {
      return make_error(ErrorCode::kIo, native::first_line(e.what()));
    }
    Result<bool> averaged = g.average_gradients(run.net->parameters());
    if (!averaged) return averaged;
    run.opt->step();
    if (run.average) run.average->update(run.net);
    const torch::Tensor predicted = run.binary ? (logits.squeeze(1) >= 0).to(torch::kLong) : logits.argmax(1);
    correct += predicted.eq(y).sum().item<long>();
    loss_sum += batch_loss * b->size;
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
  // The epoch's figures over every rank's shard.
  std::vector<double> totals{loss_sum, weight_sum, static_cast<double>(correct), static_cast<double>(seen), loader.wait_seconds()};
  Result<bool> summed = g.sum(totals, "the epoch's totals");
  if (!summed) return summed;
  loss_sum = totals[0];
  weight_sum = totals[1];
  correct = static_cast<long>(totals[2]);
  seen = static_cast<long>(totals[3]);
  const double train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  run.comm_seconds += g.communication_seconds() - comm_before;
  run.step_seconds += train_seconds;
  row.epoch = epoch;
  row.lr = lr;
  row.train_loss = weight_sum > 0 ? loss_sum / weight_sum : 0;
  row.train_accuracy = seen > 0 ? static_cast<double>(correct) / seen : 0;
  row.seconds = train_seconds;
  row.images_per_second = seen / std::max(train_seconds, 1e-9);
  row.data_wait_share = totals[4] / g.world() / std::max(train_seconds, 1e-9);
  row.comm_share = (g.communication_seconds() - comm_before) / std::max(train_seconds, 1e-9);
  return true;
}

// Predictions travel between ranks as bytes: counts, then the arrays as they are in memory (every rank is
// the same binary on the same kind of machine).
void put_bytes(std::string& out, const void* data, std::size_t n) { out.append(static_cast<const char*>(data), n); }
template <typename T>
void put_array(std::string& out, const std::vector<T>& v) {
  const std::uint64_t n = v.size();
  put_bytes(out, &n, sizeof n);
  put_bytes(out, v.data(), n * sizeof(T));
}
template <typename T>
bool get_array(const std::string& in, std::size_t& at, std::vector<T>& v) {
  std::uint64_t n = 0;
  if (at + sizeof n > in.size()) return false;
  std::memcpy(&n, in.data() + at, sizeof n);
  at += sizeof n;
  if (n > (in.size() - at) / sizeof(T)) return false;
  v.resize(n);
  std::memcpy(v.data(), in.data() + at, n * sizeof(T));
  at += n * sizeof(T);
  return true;
}
std::vector<float> flatten(const std::vector<std::vector<float>>& rows) {
  std::vector<float> out;
  for (const auto& r : rows) out.insert(out.end(), r.begin(), r.end());
  return out;
}
std::vector<std::vector<float>> unflatten(const std::vector<float>& flat, std::size_t rows) {
  std::vector<std::vector<float>> out(rows);
  const std::size_t width = rows ? flat.size() / rows : 0;
  for (std::size_t i = 0; i < rows; ++i) out[i].assign(flat.begin() + i * width, flat.begin() + (i + 1) * width);
  return out;
}
std::string pack(const Predictions& p) {
  std::string out;
  put_array(out, flatten(p.probs));
  put_array(out, flatten(p.logits));
  put_array(out, p.labels);
  put_array(out, p.samples);
  put_array(out, std::vector<double>{p.loss});
  put_array(out, p.view_disagreement);
  return out;
}
bool unpack(const std::string& in, Predictions& p) {
  std::size_t at = 0;
  std::vector<float> probs, logits;
  std::vector<double> loss;
  if (!get_array(in, at, probs) || !get_array(in, at, logits) || !get_array(in, at, p.labels) || !get_array(in, at, p.samples) ||
      !get_array(in, at, loss) || !get_array(in, at, p.view_disagreement) || loss.size() != 1)
    return false;
  p.probs = unflatten(probs, p.labels.size());
  p.logits = unflatten(logits, p.labels.size());
  p.loss = loss[0];
  return true;
}

// Predictions over `samples` (validation, test) on every rank, each rank computing its interleaved share;
// every rank gets them all, in the order of `samples`, so metrics cover the whole split everywhere.
Result<Predictions> predict_all(Run& run, const ImageStore& store, const std::vector<int>& samples, bool tta) {
  dist::Group& g = *run.group;
  const int batch = run.s.batch_size * 2;
  if (!g.distributed()) return predict_store(run.net, store, samples, batch, run.device, tta);
  const Predictions mine = predict_store(run.net, store, dist::eval_shard_of(samples, g.rank(), g.world()), batch, run.device, tta);
  Result<std::vector<std::string>> gathered = g.all_gather_bytes(pack(mine), "gathering the predictions");
  if (!gathered) return gathered.error();
  std::vector<Predictions> parts(g.world());
  for (int r = 0; r < g.world(); ++r)
    if (!unpack(gathered.value()[r], parts[r]))
      return make_error(ErrorCode::kInternal, "rank " + std::to_string(r) + " sent damaged predictions");
  auto column = [&](auto member) {
    std::vector<std::decay_t<decltype(parts[0].*member)>> per_rank;
    for (const Predictions& p : parts) per_rank.push_back(p.*member);
    return per_rank;
  };
  Predictions all;
  all.probs = dist::unshard(column(&Predictions::probs));
  all.logits = dist::unshard(column(&Predictions::logits));
  all.labels = dist::unshard(column(&Predictions::labels));
  all.samples = dist::unshard(column(&Predictions::samples));
  if (tta) all.view_disagreement = dist::unshard(column(&Predictions::view_disagreement));
  double loss_sum = 0;
  for (const Predictions& p : parts) loss_sum += p.loss * p.labels.size();
  all.loss = all.labels.empty() ? 0.0 : loss_sum / all.labels.size();
  return all;
}

// RUN/steps.csv: the loss of every step (of the global batch, in a distributed run), the earlier epochs'
// rows kept (a resumed run drops those of the epoch it repeats).
Result<bool> write_steps(const Run& run, int epoch) {
  const std::string path = (fs::path(run.s.out) / "steps.csv").string();
  std::string kept = "epoch,step,lr,loss\n";
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);  // the header
  while (std::getline(in, line))
    if (std::atoi(line.c_str()) < epoch) kept += line + '\n';
  return native::write_text_atomically(path, kept + run.epoch_steps);
}

// Validates (the weight average when there is one), records the row, and writes best.pt (when it
// improved), last.pt and metrics.csv. Returns whether the monitored value improved.
Result<bool> end_epoch(Run& run, EpochRow& row) {
  const TrainSettings& s = run.s;
  if (run.average) run.average->swap(run.net);  // validate (and keep as best) the average; swapped back before last.pt
  // Batch-norm statistics differ between ranks (each saw its own batches): rank 0's are the ones kept.
  Result<bool> shared = broadcast_weights(run, "sending rank 0's weights before validation");
  if (!shared) return shared;
  Result<Predictions> predicted = predict_all(run, *run.val_store, run.val_store->usable(), false);
  if (!predicted) return predicted.error();
  const Predictions& val = predicted.value();
  if (!std::isfinite(val.loss)) {
    if (run.average) run.average->swap(run.net);
    return diverged(run, "validation loss after epoch " + std::to_string(row.epoch), val.loss, row.lr);
  }
  Result<Metrics> vm = compute_metrics(val.probs, val.labels);
  row.val_loss = val.loss;
  if (vm) {
    row.val_accuracy = vm.value().accuracy;
    row.val_auc = vm.value().roc_auc;
    row.val_f1 = vm.value().macro.f1;
  }
  run.history.push_back(row);
  if (run.plateau) run.plateau_lr = run.plateau->observe(monitored(row, s.monitor));

  const double value = monitored(row, s.monitor);
  const bool improved = higher_is_better(s.monitor) ? value > run.best : value < run.best;
  if (improved) {
    run.best = value;
    run.best_epoch = row.epoch;
    run.bad_epochs = 0;
  } else {
    ++run.bad_epochs;
  }
  json rows = json::array();
  for (const EpochRow& r : run.history) rows.push_back(row_to_json(r));
  const json state{{"epoch", row.epoch}, {"best", run.best}, {"best_epoch", run.best_epoch}, {"bad_epochs", run.bad_epochs},
                   {"plateau_lr", run.plateau_lr}, {"monitor", s.monitor}, {"history", rows},
                   {"average_steps", run.average ? run.average->steps() : 0L}};
  Result<bool> saved = true;
  if (improved && run.rank0)  // the weights just validated: the average when there is one
    saved = save_checkpoint(run.best_path, run.net, *run.opt, state);
  if (run.average) run.average->swap(run.net);  // back to the raw weights, which keep training
  if (saved && run.rank0)
    saved = save_checkpoint(run.last_path, run.net, *run.opt, state, run.average ? &run.average->tensors() : nullptr);
  if (saved && run.rank0)
    saved = native::write_text_atomically((fs::path(s.out) / "metrics.csv").string(), metrics_csv(run.history));
  if (saved && run.rank0) saved = write_steps(run, row.epoch);
  saved = run.group->agree(saved, "writing the checkpoints");
  if (!saved) return saved;
  return improved;
}

Result<bool> run_epoch(Run& run, int epoch) {
  EpochRow row;
  Result<bool> trained = train_pass(run, epoch, row);
  if (!trained) return trained;
  Result<bool> improved = end_epoch(run, row);
  if (!improved) return improved;
  const std::string comm = run.group->distributed() ? "  all-reduce " + std::to_string(static_cast<int>(100 * row.comm_share + 0.5)) + "%" : "";
  log_line("epoch %d/%d  lr %.2e  train loss %.4f acc %.4f  val loss %.4f acc %.4f auc %.4f  %.0f img/s  data wait %.0f%%%s%s",
           epoch, run.s.epochs, row.lr, row.train_loss, row.train_accuracy, row.val_loss, row.val_accuracy, row.val_auc,
           row.images_per_second, 100 * row.data_wait_share, comm.c_str(), improved.value() ? "  *best" : "");
  return true;
}

// ---------------------------------------------------------------------------------------------
// Finish: the best checkpoint, its operating threshold on validation, then test; report and plots

// The binary threshold chosen on validation (Youden's J, or --target-sensitivity), recorded in the report.
double choose_threshold(const Run& run, const Predictions& val, json& report) {
  double threshold = 0.5;
  if (!run.binary || val.labels.empty()) return threshold;
  const TrainSettings& s = run.s;
  if (s.fixed_threshold > 0 && s.fixed_threshold < 1) {  // fine-tuning: the base model's operating point
    report["threshold"] = {{"value", s.fixed_threshold}, {"chosen_by", "kept from the base model (cellcam finetune)"}};
    return s.fixed_threshold;
  }
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
  return threshold;
}

// training_curves.png, roc.png (validation and test) and confusion_test.png; a plot not drawn is a warning.
void draw_plots(const Run& run, const Predictions& val, const std::optional<Predictions>& test,
                const std::optional<Metrics>& test_metrics) {
  std::vector<double> epochs, train_loss, val_loss, train_acc, val_acc;
  for (const EpochRow& r : run.history) {
    epochs.push_back(r.epoch);
    train_loss.push_back(r.train_loss);
    val_loss.push_back(r.val_loss);
    train_acc.push_back(r.train_accuracy);
    val_acc.push_back(r.val_accuracy);
  }
  const fs::path out_dir(run.s.out);
  const std::vector<std::string>& classes = run.dataset.classes;
  std::vector<Result<bool>> drawn;
  drawn.push_back(report::plot_training_curves((out_dir / "training_curves.png").string(), epochs, train_loss, val_loss, train_acc, val_acc));
  std::vector<report::Series> curves = roc_series(val, classes, "validation");
  if (test) {
    for (report::Series& c : roc_series(*test, classes, "test")) curves.push_back(c);
    if (test_metrics)
      drawn.push_back(report::plot_confusion((out_dir / "confusion_test.png").string(), classes, test_metrics->confusion.counts));
  }
  if (!curves.empty()) drawn.push_back(report::plot_roc((out_dir / "roc.png").string(), curves));
  for (const Result<bool>& d : drawn)
    if (!d) log_line("warning: a plot was not drawn: %s", d.error().message.c_str());
}

Result<bool> finish(Run& run) {
  const TrainSettings& s = run.s;
  const std::vector<std::string>& classes = run.dataset.classes;
  if (run.best_epoch > 0) {
    Result<bool> loaded = true;
    if (run.rank0) {
      Result<json> state = load_checkpoint(run.best_path, run.net, nullptr);
      if (!state) loaded = state.error();
    }
    loaded = run.group->agree(loaded, "loading the best checkpoint");
    if (loaded) loaded = broadcast_weights(run, "sending the best weights");
    if (!loaded) return loaded;
  }
  json report{{"run", s.out}, {"model", run.spec.name}, {"classes", classes},
              {"best_epoch", run.best_epoch}, {"monitor", s.monitor}, {"epochs_run", run.history.size()}};
  Result<Predictions> predicted_val = predict_all(run, *run.val_store, run.val_store->usable(), s.tta);
  if (!predicted_val) return predicted_val.error();
  const Predictions& val = predicted_val.value();
  report["tta"] = s.tta;
  const double threshold = choose_threshold(run, val, report);
  Result<Metrics> val_metrics = compute_metrics(val.probs, val.labels, threshold);
  if (val_metrics) report["validation"] = metrics_json(val_metrics.value(), classes, val.loss);
  std::optional<Predictions> test;
  std::optional<Metrics> test_metrics;
  if (s.skip_test) {  // a recipe being chosen (cellcam tune) must not see the part that will judge it
    log_line("test: not evaluated (--no-test); `cellcam eval %s` evaluates it when the recipe is chosen", s.out.c_str());
  } else if (Result<ImageStore> test_store = ImageStore::build(run.dataset, run.split.test, run.spec.preprocess, run.threads,
                                                               run.cache, &run.skipped);
             test_store && !test_store.value().usable().empty()) {
    Result<Predictions> predicted = predict_all(run, test_store.value(), test_store.value().usable(), s.tta);
    if (!predicted) return predicted.error();
    test = predicted.take();
    Result<Metrics> tm = compute_metrics(test->probs, test->labels, threshold);
    if (tm) {
      test_metrics = tm.value();
      report["test"] = metrics_json(tm.value(), classes, test->loss);
      log_line("test: accuracy %.4f  ROC-AUC %.4f  macro F1 %.4f  (%zu images, threshold %.3f)", tm.value().accuracy,
               tm.value().roc_auc, tm.value().macro.f1, test->labels.size(), threshold);
    }
  }
  report["split"] = {{"train", run.split.train.size()}, {"val", run.split.val.size()}, {"test", run.split.test.size()}};
  report["grouped"] = run.dataset.has_groups;
  report["skipped"] = run.skipped.size();
  report["warnings"] = run.warnings;
  if (!run.skipped.empty()) log_line("%zu images skipped in all (see %s/skipped.csv)", run.skipped.size(), s.out.c_str());
  long long parameters = 0;
  for (const auto& p : run.net->parameters()) parameters += p.numel();
  report["parameters"] = parameters;
  json rows = json::array();
  for (const EpochRow& r : run.history) rows.push_back(row_to_json(r));
  report["history"] = rows;
  if (run.group->distributed())
    report["distributed"] = {{"world_size", run.group->world()}, {"backend", run.group->backend()},
                             {"batch_size_per_rank", s.batch_size}, {"global_batch_size", s.batch_size * run.group->world()},
                             {"batch_norm", s.dist.sync_batch_norm ? "synchronised" : "per rank"},
                             {"comm_share_this_process", run.comm_seconds / std::max(run.step_seconds, 1e-9)}};
  if (!run.rank0) return run.group->agree(true, "writing the report");

  Result<bool> written = write_skipped(run);  // now with the test images that could not be read
  if (written) draw_plots(run, val, test, test_metrics);
  if (written) written = native::write_text_atomically((fs::path(s.out) / "report.md").string(), report_markdown(report, s));
  if (written) written = native::write_text_atomically((fs::path(s.out) / "report.json").string(), report.dump(2) + "\n");
  if (written) written = write_run_card(s.out);  // now with the chosen threshold
  written = run.group->agree(written, "writing the report");
  if (!written) return written;
  log_line("run folder: %s (best %s %.4f at epoch %d)", s.out.c_str(), s.monitor.c_str(), run.best, run.best_epoch);
  return true;
}

}  // namespace

// =============================================================================================
namespace {

// Rank 0 resolves the settings (a resumed run's config.json), checks them and the run folder, and sends
// them to the other ranks with whether there is a checkpoint to continue from.
Result<bool> share_settings(const TrainSettings& requested, Run& run) {
  dist::Group& g = *run.group;
  std::string text;
  Result<bool> mine = true;
  if (run.rank0) {
    Result<TrainSettings> settings = resolve_settings(requested);
    if (settings) mine = validate_settings(settings.value());
    else mine = settings.error();
    if (mine) {
      run.s = settings.take();
      const TrainSettings& s = run.s;
      if (s.resume.empty() && s.base_model.empty()) {  // a fresh run never writes over another one (finetune checked its own)
        mine = native::check_output_folder(
            s.out, s.force, {"config.json", "split.csv", "checkpoints"}, "training run",
            "continue it with `cellcam train --resume " + s.out + "`, or give --force to delete it and start over");
        std::error_code ec;
        if (mine && s.force) fs::remove_all(s.out, ec);
        if (ec) mine = make_error(ErrorCode::kIo, "--force: cannot delete " + s.out + ": " + ec.message());
      }
      run.from_checkpoint = !s.resume.empty() && fs::exists(fs::path(s.out) / "checkpoints" / "last.pt");
      text = json{{"settings", settings_to_json(s)}, {"out", s.out}, {"resume", s.resume},
                  {"max_epochs_this_run", s.max_epochs_this_run}, {"from_checkpoint", run.from_checkpoint}}.dump();
    }
  }
  Result<bool> agreed = g.agree(mine, "checking the settings");
  if (!agreed || !g.distributed()) return agreed;
  Result<bool> sent = g.broadcast_bytes(text, "sending the settings");
  if (!sent) return sent;
  if (!run.rank0) {
    const json j = json::parse(text);
    run.s = settings_from_json(j.at("settings"));
    run.s.out = j.at("out").get<std::string>();
    run.s.resume = j.at("resume").get<std::string>();
    run.s.max_epochs_this_run = j.at("max_epochs_this_run").get<int>();
    run.from_checkpoint = j.at("from_checkpoint").get<bool>();
  }
  run.s.dist = requested.dist;
  return true;
}

// LOCAL_WORLD_SIZE (set by --nproc and torchrun): how many ranks share this machine's cores. Also for a
// cross-validation fold, which trains alone in a group of one while the other ranks train theirs.
int local_world_size(const dist::Group&) {
  const char* text = std::getenv("LOCAL_WORLD_SIZE");
  const int n = text ? std::atoi(text) : 0;
  return std::max(1, n);
}

int train_epochs(Run& run) {
  const TrainSettings& s = run.s;
  Result<bool> done = set_up(run);
  if (!done) return fail(done.error());
  int epochs_run = 0;
  for (int epoch = run.start_epoch; epoch <= s.epochs; ++epoch) {
    if (s.max_epochs_this_run > 0 && epochs_run >= s.max_epochs_this_run) break;
    done = run_epoch(run, epoch);
    if (!done) return fail(done.error());
    ++epochs_run;
    if (s.patience > 0 && run.bad_epochs >= s.patience) {
      log_line("early stop: %s has not improved for %d epochs (best %.4f at epoch %d)", s.monitor.c_str(), run.bad_epochs,
               run.best, run.best_epoch);
      break;
    }
  }
  if (s.max_epochs_this_run > 0 && run.start_epoch + epochs_run <= s.epochs && !(s.patience > 0 && run.bad_epochs >= s.patience)) {
    log_line("stopped after %d epochs as asked; continue with: cellcam train --resume %s", epochs_run, s.out.c_str());
    return 0;
  }
  done = finish(run);
  if (!done) return fail(done.error());
  return 0;
}

}  // namespace

int run_train_in(const TrainSettings& requested, dist::Group& group) {
  // A fold of a cross-validation spread over ranks runs in a world of one inside a rank: restore after.
  const int outer_rank = g_rank;
  const dist::Group* outer_group = g_group;
  g_rank = group.rank();
  g_group = &group;
  const int rc = [&] {
    Run run;
    run.group = &group;
    run.rank0 = group.rank() == 0;
    Result<bool> shared = share_settings(requested, run);
    if (!shared) return fail(shared.error());
    const TrainSettings& s = run.s;
    if (s.folds > 0 && s.fold == 0) return run_cross_validation(s, group);
    run.threads = native::configure_torch_threads(dist::threads_per_rank(s.threads, local_world_size(group)));
    Result<torch::Device> device = choose_device(s);
    if (!device) return fail(device.error());
    run.device = device.value();
    if (run.device.is_cuda() && group.distributed())
      run.device = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(s.dist.local_rank % torch::cuda::device_count()));
    return train_epochs(run);
  }();
  g_rank = outer_rank;
  g_group = outer_group;
  return rc;
}

int run_train(const TrainSettings& requested) {
  if (requested.data.empty() && requested.resume.empty()) {
    std::fprintf(stderr, "cellcam train: give a data folder or CSV, or --resume RUN\n");
    return 1;
  }
  Result<dist::DistOptions> options = dist::resolve_dist_options(requested.dist);
  if (!options) return fail(options.error());
  if (options.value().nproc > 1) return dist::launch_local_ranks(dist::command_line(), options.value(), options.value().timeout_s);
  TrainSettings settings = requested;
  settings.dist = options.value();
  const bool cuda = requested.device == "cuda" || (requested.device == "auto" && torch::cuda::is_available());
  Result<std::unique_ptr<dist::Group>> group = dist::Group::join(settings.dist, cuda);
  if (!group) {
    std::fprintf(stderr, "cellcam train: %s\n", group.error().message.c_str());
    return 1;
  }
  return run_train_in(settings, *group.value());
}

}  // namespace cellcam::train
