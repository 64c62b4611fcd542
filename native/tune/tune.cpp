// tune.cpp — the search loop: check the space against train's parser, resume or start the search folder,
// propose, run and record trials until --trials or the budget, and keep the report current (see tune.h).
#include "tune.h"

#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>

#include "file_io.h"
#include "trial_runner.h"
#include "tune_report.h"

namespace cellcam::tune {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

void on_signal(int) { request_interrupt(); }

// Every edge of every parameter must parse as a `cellcam train` option, before any trial runs.
Result<bool> check_space(const SearchSpace& space, const TrainOptions& train) {
  for (const Param& p : space.params) {
    for (const json& v : edge_values(p)) {
      if (train.is_flag(p.name) && !v.is_boolean())
        return make_error(ErrorCode::kInvalidSpec, "search space: \"" + p.name + "\" is a flag of train: its values are true/false");
      const std::string complaint = train.check(p.name, value_text(v));
      if (!complaint.empty()) return make_error(ErrorCode::kInvalidSpec, "search space: \"" + p.name + "\" = " + v.dump() + ": " + complaint);
    }
  }
  return true;
}

json search_identity(const TuneSettings& s, const json& space_doc) {
  return {{"data", s.data}, {"space", space_doc}, {"method", s.method}, {"objective", s.objective},
          {"seed", s.seed}, {"startup", s.startup}, {"folds", s.folds}};
}

// A new folder gets tune.json; an existing one must have been made by the same search (then it resumes).
Result<bool> open_search_folder(const TuneSettings& s, const json& identity) {
  std::error_code ec;
  fs::create_directories(fs::path(s.out) / "trials", ec);
  if (ec) return make_error(ErrorCode::kIo, "cannot create " + s.out + ": " + ec.message());
  const std::string path = (fs::path(s.out) / "tune.json").string();
  if (!fs::exists(path)) return native::write_text_atomically(path, identity.dump(2) + "\n");
  Result<std::string> text = native::read_text(path);
  if (!text) return text.error();
  const json stored = json::parse(text.value(), nullptr, false);
  if (stored.is_discarded()) return make_error(ErrorCode::kCorrupt, path + " is damaged");
  for (const auto& [key, value] : identity.items())
    if (!stored.contains(key) || stored[key] != value)
      return make_error(ErrorCode::kInvalidArgument, s.out + " holds a search with another " + key +
                                                         " (" + (stored.contains(key) ? stored[key].dump() : "none") +
                                                         "); give a new --out, or the same settings to resume it");
  return true;
}

std::vector<std::string> trial_argv(const TuneSettings& s, const TrainOptions& train, const json& params, const std::string& run) {
  // --no-test: the trials' run folders hold no test metrics, so nobody can choose on them by accident.
  std::vector<std::string> argv{train.executable, "train", s.data, "--out", run, "--force", "--no-test"};
  if (!params.contains("seed")) argv.insert(argv.end(), {"--seed", std::to_string(s.seed)});
  if (!params.contains("monitor")) argv.insert(argv.end(), {"--monitor", s.objective});
  if (!params.contains("threads")) argv.insert(argv.end(), {"--threads", std::to_string(s.threads)});
  if (s.folds >= 2) argv.insert(argv.end(), {"--folds", std::to_string(s.folds)});
  for (const auto& [name, v] : params.items()) {
    if (train.is_flag(name)) {
      if (v.get<bool>()) argv.push_back("--" + name);
    } else {
      argv.insert(argv.end(), {"--" + name, value_text(v)});
    }
  }
  return argv;
}

std::string describe(const json& params, const SearchSpace& space) {
  std::string out;
  for (const Param* p : space.searched())
    out += (out.empty() ? "" : " ") + p->name + "=" + value_text(params[p->name]);
  return out;
}

}  // namespace

bool maximizes(const std::string& objective) { return objective != "val_loss"; }

Result<int> run_tune(const TuneSettings& s, const TrainOptions& train) {
  Result<std::string> text = native::read_text(s.space);
  if (!text) return text.error();
  Result<SearchSpace> space = parse_search_space(text.value());
  if (!space) return make_error(space.error().code, s.space + ": " + space.error().message);
  if (Result<bool> ok = check_space(space.value(), train); !ok) return make_error(ok.error().code, s.space + ": " + ok.error().message);
  const json identity = search_identity(s, json::parse(text.value()));
  if (Result<bool> ok = open_search_folder(s, identity); !ok) return ok.error();

  const std::string trials_path = (fs::path(s.out) / "trials.jsonl").string();
  Result<std::vector<Trial>> read = read_trials(trials_path);
  if (!read) return read.error();
  std::vector<Trial> trials = read.take();
  if (!trials.empty()) std::fprintf(stderr, "tune: resuming %s after %zu finished trials\n", s.out.c_str(), trials.size());

  const bool maximize = maximizes(s.objective);
  SamplerOptions so;
  so.method = s.method == "random" ? Method::kRandom : Method::kBayes;
  so.seed = static_cast<std::uint64_t>(s.seed);
  so.startup = s.startup;
  so.maximize = maximize;
  const MedianStopping rule{s.prune_min_epochs, s.prune_min_trials};
  const ReportContext rc{s.out, s.data, s.method, s.objective, maximize, s.budget_minutes, s.seed, s.folds};
  const Clock::time_point deadline = s.budget_minutes > 0
      ? Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s.budget_minutes * 60.0))
      : Clock::time_point::max();
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);

  int finished = 0;
  for (int number = static_cast<int>(trials.size()) + 1; number <= s.trials; ++number) {
    if (Clock::now() >= deadline) {
      std::fprintf(stderr, "tune: the %.0f-minute budget is spent; %d of %d trials ran\n", s.budget_minutes, number - 1, s.trials);
      break;
    }
    const json params = propose(space.value(), trials, number, so);
    const std::string run = (fs::path(s.out) / "trials" / ("trial-" + std::to_string(number))).string();
    std::fprintf(stderr, "tune: trial %d/%d: %s\n", number, s.trials, describe(params, space.value()).c_str());
    TrialJob job{trial_argv(s, train, params, run), run, run + ".log", s.objective, s.folds, maximize, deadline, nullptr};
    if (s.pruner == "median" && s.folds < 2)
      job.stop_early = [&](const std::vector<double>& curve) { return should_stop(curve, trials, maximize, rule); };
    const TrialOutcome o = run_trial_process(job);
    if (o.end == TrialEnd::kInterrupted) return make_error(ErrorCode::kInternal, "interrupted: trial " + std::to_string(number) +
                                                                                 " is lost; run the same command to resume");
    if (o.end == TrialEnd::kBudget) {
      std::fprintf(stderr, "tune: the budget ran out during trial %d (not counted)\n", number);
      break;
    }
    Trial t{number, params, TrialStatus::kFailed, o.objective, o.curve, o.seconds, o.error};
    t.status = o.end == TrialEnd::kFinished ? TrialStatus::kComplete : o.end == TrialEnd::kPruned ? TrialStatus::kPruned : TrialStatus::kFailed;
    if (Result<bool> ok = append_trial(trials_path, t); !ok) return ok.error();
    trials.push_back(t);
    ++finished;
    std::fprintf(stderr, "tune: trial %d %s: %s %.4f (%.1f min)%s%s\n", number, trial_status_name(t.status), s.objective.c_str(),
                 t.objective, t.seconds / 60.0, t.error.empty() ? "" : " — ", t.error.c_str());
    if (Result<bool> ok = write_tune_report(rc, space.value(), trials); !ok) return ok.error();
  }
  if (Result<bool> ok = write_tune_report(rc, space.value(), trials); !ok) return ok.error();
  const int best = best_trial(trials, maximize);
  if (best >= 0)
    std::fprintf(stderr, "tune: best trial %d, %s %.4f; %s/report.md, %s/best.toml\n", trials[best].number, s.objective.c_str(),
                 trials[best].objective, s.out.c_str(), s.out.c_str());
  return finished;
}

}  // namespace cellcam::tune
