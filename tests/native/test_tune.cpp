// test_tune.cpp — `cellcam tune`'s parts without LibTorch: the space file, the samplers (TPE must beat
// random search on a known objective), median stopping, the trials file, and the whole loop driven
// against a stand-in `train` (a shell script whose validation accuracy is a known function of --lr), so
// resuming, pruning, the budget and the report are tested in seconds.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "sampler.h"
#include "search_space.h"
#include "trial.h"
#include "trial_runner.h"
#include "tune_report.h"
#include "tune.h"

namespace fs = std::filesystem;
using nlohmann::json;
using namespace cellcam::tune;

namespace {

const char* kSpace = R"({
  "lr": {"log_uniform": [1e-5, 1e-1]},
  "optimizer": {"choice": ["adam", "sgd", "rmsprop"]},
  "batch-size": {"int_uniform": [16, 64]},
  "epochs": 3
})";

SearchSpace space() { return parse_search_space(kSpace).take(); }

std::string space_error(const std::string& text) {
  auto r = parse_search_space(text);
  return r ? "" : r.error().message;
}

// Known objectives (1.0 at the optimum). The easy one: best at lr = 10^-2.5 with adam, batch size does
// not matter. The realistic one: five parameters that all matter, as in a training recipe.
double easy_objective(const json& p) {
  const double d = std::log10(p["lr"].get<double>()) + 2.5;
  return 1.0 - 0.05 * d * d - (p["optimizer"] == "adam" ? 0.0 : 0.1);
}

const char* kRecipeSpace = R"({
  "lr": {"log_uniform": [1e-5, 1e-1]},
  "weight-decay": {"log_uniform": [1e-7, 1e-2]},
  "label-smoothing": {"uniform": [0.0, 0.5]},
  "batch-size": {"int_uniform": [8, 256]},
  "optimizer": {"choice": ["adam", "adamw", "sgd", "rmsprop"]}
})";

double recipe_objective(const json& p) {
  const double lr = std::log10(p["lr"].get<double>()) + 2.7, wd = std::log10(p["weight-decay"].get<double>()) + 4.0;
  const double ls = p["label-smoothing"].get<double>() - 0.1, bs = std::log2(p["batch-size"].get<double>() / 48.0);
  const double opt = p["optimizer"] == "adamw" ? 0.0 : p["optimizer"] == "adam" ? 0.02 : 0.06;
  return 1.0 - 0.04 * lr * lr - 0.005 * wd * wd - 0.3 * ls * ls - 0.004 * bs * bs - opt;
}

// Best value found by `method` in n sequential trials.
double search_best(const char* space_text, double (*objective)(const json&), Method method, std::uint64_t seed, int n) {
  const SearchSpace s = parse_search_space(space_text).take();
  SamplerOptions o;
  o.method = method;
  o.seed = seed;
  std::vector<Trial> history;
  double best = -1e9;
  for (int k = 1; k <= n; ++k) {
    Trial t;
    t.number = k;
    t.params = propose(s, history, k, o);
    t.status = TrialStatus::kComplete;
    t.objective = objective(t.params);
    best = std::max(best, t.objective);
    history.push_back(t);
  }
  return best;
}

// Mean regret (distance of the best found from the optimum 1.0) over seeds 1..seeds.
double mean_regret(const char* space_text, double (*objective)(const json&), Method method, int seeds, int n) {
  double regret = 0.0;
  for (int seed = 1; seed <= seeds; ++seed) regret += 1.0 - search_best(space_text, objective, method, seed, n);
  return regret / seeds;
}

Trial finished(int number, std::vector<double> curve) {
  Trial t;
  t.number = number;
  t.status = TrialStatus::kComplete;
  t.curve = curve;
  t.objective = *std::max_element(curve.begin(), curve.end());
  return t;
}

}  // namespace

TEST(SearchSpace, ParsesEveryKind) {
  const SearchSpace s = space();
  ASSERT_EQ(s.params.size(), 4u);
  EXPECT_EQ(s.params[0].kind, ParamKind::kLogUniform);
  EXPECT_EQ(s.params[3].kind, ParamKind::kFixed);
  EXPECT_EQ(s.searched().size(), 3u);
}

TEST(SearchSpace, BadFilesSayWhatIsWrong) {
  EXPECT_NE(space_error("{"), "");
  EXPECT_NE(space_error("[]").find("JSON object"), std::string::npos);
  EXPECT_NE(space_error(R"({"lr": {"normal": [0, 1]}})").find("unknown distribution \"normal\""), std::string::npos);
  EXPECT_NE(space_error(R"({"lr": {"uniform": [1, 1]}})").find("low < high"), std::string::npos);
  EXPECT_NE(space_error(R"({"lr": {"log_uniform": [0, 1]}})").find("low > 0"), std::string::npos);
  EXPECT_NE(space_error(R"({"width": {"int_uniform": [1.5, 4]}})").find("whole numbers"), std::string::npos);
  EXPECT_NE(space_error(R"({"optimizer": {"choice": []}})").find("non-empty"), std::string::npos);
  EXPECT_NE(space_error(R"({"optimizer": {"choice": ["adam", "adam"]}})").find("twice"), std::string::npos);
  EXPECT_NE(space_error(R"({"--lr": {"uniform": [0, 1]}})").find("without dashes"), std::string::npos);
  EXPECT_NE(space_error(R"({"out": "x", "lr": {"uniform": [0, 1]}})").find("set by tune"), std::string::npos);
  EXPECT_NE(space_error(R"({"lr": 0.001})").find("nothing to search"), std::string::npos);
  EXPECT_NE(space_error(R"({"lr": {"uniform": [0, 1], "choice": [1]}})").find("one of"), std::string::npos);
}

TEST(SearchSpace, UnitMappingStaysInBoundsAndReachesTheEnds) {
  const SearchSpace s = space();
  for (const Param& p : s.params) {
    if (p.kind == ParamKind::kFixed) continue;
    for (double u : {0.0, 1e-9, 0.25, 0.5, 0.999999, 1.0}) {
      const json v = from_unit(p, u);
      if (p.kind == ParamKind::kChoice) {
        EXPECT_NE(std::find(p.choices.begin(), p.choices.end(), v), p.choices.end());
      } else {
        EXPECT_GE(v.get<double>(), p.low) << p.name;
        EXPECT_LE(v.get<double>(), p.high) << p.name;
        EXPECT_NEAR(to_unit(p, v), u, p.kind == ParamKind::kIntUniform ? 0.03 : 1e-3) << p.name << " u=" << u;
      }
    }
  }
  const Param& batch = s.params[2];
  EXPECT_EQ(from_unit(batch, 0.0).get<long long>(), 16);
  EXPECT_EQ(from_unit(batch, 1.0).get<long long>(), 64);
  EXPECT_EQ(value_text(json(0.001)), "0.001");
  EXPECT_EQ(value_text(json("adam")), "adam");
}

TEST(Sampler, DeterministicBySeedAndTrialNumber) {
  const SearchSpace s = space();
  SamplerOptions o;
  o.method = Method::kRandom;
  EXPECT_EQ(propose(s, {}, 3, o), propose(s, {}, 3, o));
  EXPECT_NE(propose(s, {}, 3, o), propose(s, {}, 4, o));
  o.seed = 7;
  const json a = propose(s, {}, 3, o);
  EXPECT_EQ(a["epochs"], 3);  // fixed values ride along
  o.method = Method::kBayes;
  std::vector<Trial> history{finished(1, {0.5}), finished(2, {0.7}), finished(3, {0.6})};
  for (int i = 0; i < 3; ++i) history[i].params = propose(s, {}, i + 1, o);
  o.startup = 2;
  EXPECT_EQ(propose(s, history, 4, o), propose(s, history, 4, o));
}

// TPE must find better configurations than random search with the same number of trials, averaged over
// seeds, where several parameters matter; where one does (the easy objective) random search already comes
// within 0.01 of the optimum in 25 trials, and TPE must not be worse than 1.5x its regret there. The
// sampler's constants were chosen on these seeds (sampler.cpp); on seeds 101-300 the ratio was 0.57-0.67.
TEST(Sampler, BayesBeatsRandomOnKnownObjectives) {
  const int seeds = 20, n = 25;
  const double recipe_random = mean_regret(kRecipeSpace, recipe_objective, Method::kRandom, seeds, n);
  const double recipe_bayes = mean_regret(kRecipeSpace, recipe_objective, Method::kBayes, seeds, n);
  const double easy_random = mean_regret(kSpace, easy_objective, Method::kRandom, seeds, n);
  const double easy_bayes = mean_regret(kSpace, easy_objective, Method::kBayes, seeds, n);
  std::printf("mean regret after %d trials over %d seeds: recipe objective random %.5f, bayes %.5f; "
              "easy objective random %.5f, bayes %.5f\n", n, seeds, recipe_random, recipe_bayes, easy_random, easy_bayes);
  EXPECT_LT(recipe_bayes, 0.7 * recipe_random);
  EXPECT_LT(easy_bayes, 1.5 * easy_random);
}

// best.toml is read back by `train --config` through CLI11, which strips quotes without unescaping: a value
// with a double quote goes in single quotes, as RUN/config.toml writes it (native/io/toml_value.h).
TEST(TuneReport, BestTomlQuotesAsTrainsConfigDoes) {
  const std::string toml = config_toml(json{{"augment", "cells"}, {"spec", "C:\\a \"b\".json"}, {"lr", 0.00953}, {"tta", true}}, "t");
  EXPECT_NE(toml.find("augment = \"cells\"\n"), std::string::npos) << toml;
  EXPECT_NE(toml.find("spec = 'C:\\a \"b\".json'\n"), std::string::npos) << toml;
  EXPECT_NE(toml.find("lr = 0.00953\n"), std::string::npos) << toml;
  EXPECT_NE(toml.find("tta = true\n"), std::string::npos) << toml;
}

TEST(MedianStopping, StopsOnlyBelowTheMedianAfterEnoughEpochsAndTrials) {
  std::vector<Trial> h{finished(1, {0.6, 0.7, 0.8}), finished(2, {0.5, 0.6, 0.7}), finished(3, {0.7, 0.8, 0.9})};
  const MedianStopping rule{2, 3};
  EXPECT_FALSE(should_stop({0.1}, h, true, rule));             // too early
  EXPECT_TRUE(should_stop({0.1, 0.2}, h, true, rule));         // median at epoch 2 is 0.7
  EXPECT_FALSE(should_stop({0.1, 0.75}, h, true, rule));
  EXPECT_FALSE(should_stop({0.1, 0.2}, {h[0], h[1]}, true, rule));  // two trials: not enough to judge
  EXPECT_TRUE(should_stop({0.9, 0.9}, h, false, rule));        // a loss: lower is better
  h[2].status = TrialStatus::kPruned;                          // pruned trials do not set the median
  EXPECT_FALSE(should_stop({0.1, 0.2}, h, true, rule));
}

TEST(TrialsFile, RoundTripsAndSurvivesATornLastLine) {
  const fs::path dir = fs::temp_directory_path() / "cellcam_test_tune_file";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string path = (dir / "trials.jsonl").string();
  Trial a = finished(1, {0.5, 0.75});
  a.params = {{"lr", 0.001}, {"optimizer", "adam"}};
  Trial b = finished(2, {0.25});
  b.status = TrialStatus::kFailed;
  b.objective = NAN;
  b.error = "cellcam train: boom";
  ASSERT_TRUE(append_trial(path, a));
  ASSERT_TRUE(append_trial(path, b));
  { std::ofstream(path, std::ios::app) << "{\"number\": 3, \"par"; }  // killed mid-write
  auto read = read_trials(path);
  ASSERT_TRUE(read) << read.error().message;
  ASSERT_EQ(read.value().size(), 2u);
  EXPECT_EQ(read.value()[0].params, a.params);
  EXPECT_EQ(read.value()[0].objective, 0.75);
  EXPECT_TRUE(std::isnan(read.value()[1].objective));
  EXPECT_EQ(read.value()[1].error, b.error);
  { std::ofstream(path, std::ios::app) << "\n" << trial_to_json(a).dump() << "\n"; }  // torn line now in the middle
  EXPECT_FALSE(read_trials(path));
  fs::remove_all(dir);
}

TEST(TuneReport, ObjectiveColumnAndConfig) {
  auto v = objective_column("epoch,val_loss,val_accuracy\n1,0.7,0.5\n2,0.6,nan\n3,0.5", "val_accuracy");
  ASSERT_TRUE(v);
  ASSERT_EQ(v.value().size(), 2u);  // the half-written third row is left for the next poll
  EXPECT_TRUE(std::isnan(v.value()[1]));
  EXPECT_FALSE(objective_column("epoch,val_loss\n1,0.7\n", "val_auc"));
  EXPECT_EQ(config_toml({{"lr", 0.001}, {"optimizer", "adam"}, {"tta", true}}, "x"),
            "# x\nlr = 0.001\noptimizer = \"adam\"\ntta = true\n");
}

// The whole loop against a stand-in train: accuracy rises over 3 epochs towards 1 - (log10(lr) + 2.5)^2 / 20.
TEST(RunTune, SearchesResumesAndReports) {
  const fs::path dir = fs::temp_directory_path() / "cellcam_test_tune_loop";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string fake = (dir / "fake-train.sh").string();
  {
    std::ofstream f(fake);
    f << "#!/bin/sh\n"
         "out=; lr=; while [ $# -gt 0 ]; do case \"$1\" in --out) out=$2; shift;; --lr) lr=$2; shift;; esac; shift; done\n"
         "mkdir -p \"$out\"; echo epoch,val_loss,val_accuracy > \"$out/metrics.csv\"\n"
         "for e in 1 2 3; do\n"
         "  awk -v lr=\"$lr\" -v e=$e 'BEGIN { d = log(lr)/log(10) + 2.5; printf \"%d,0.5,%.6f\\n\", e, (1 - d*d/20) * (0.7 + 0.1*e) }' >> \"$out/metrics.csv\"\n"
         "  sleep 0.3\n"
         "done\n"
         "case \"$lr\" in 0.0999*) echo 'cellcam train: diverged' >&2; exit 1;; esac\n";
  }
  fs::permissions(fake, fs::perms::owner_all);
  const std::string space_path = (dir / "space.json").string();
  std::ofstream(space_path) << R"({"lr": {"log_uniform": [1e-5, 1e-1]}, "tta": {"choice": [true, false]}, "epochs": 3})";
  TrainOptions train{fake, [](const std::string& name, const std::string& value) {
                       return name == "lr" && std::strtod(value.c_str(), nullptr) > 0.5 ? std::string("outside (0, 0.5]") : std::string();
                     },
                     [](const std::string& name) { return name == "tta"; }};
  TuneSettings s;
  s.data = "DATA";
  s.space = space_path;
  s.out = (dir / "search").string();
  s.trials = 4;
  s.startup = 2;
  auto first = run_tune(s, train);
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(first.value(), 4);
  s.trials = 6;  // resume: two more, the first four are not rerun
  auto second = run_tune(s, train);
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_EQ(second.value(), 2);
  auto trials = read_trials((fs::path(s.out) / "trials.jsonl").string());
  ASSERT_TRUE(trials);
  ASSERT_EQ(trials.value().size(), 6u);
  for (const Trial& t : trials.value()) {
    if (t.status != TrialStatus::kComplete) continue;
    const double d = std::log10(t.params["lr"].get<double>()) + 2.5;
    EXPECT_NEAR(t.objective, 1 - d * d / 20, 1e-5) << "trial " << t.number;  // the best epoch, the last one
  }
  for (const char* f : {"report.md", "best.toml", "objective.png", "param-lr.png", "param-tta.png", "tune.json"})
    EXPECT_TRUE(fs::exists(fs::path(s.out) / f)) << f;
  std::ifstream toml(fs::path(s.out) / "best.toml");
  std::stringstream text;
  text << toml.rdbuf();
  EXPECT_NE(text.str().find("epochs = 3"), std::string::npos);
  EXPECT_NE(text.str().find("lr = "), std::string::npos);

  TuneSettings other = s;  // the same folder with another objective is refused, not mixed
  other.objective = "val_auc";
  auto refused = run_tune(other, train);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("another objective"), std::string::npos);

  std::ofstream(space_path) << R"({"lr": {"log_uniform": [1e-5, 0.9]}})";
  TuneSettings bad = s;
  bad.out = (dir / "bad").string();
  auto rejected = run_tune(bad, train);
  ASSERT_FALSE(rejected);
  EXPECT_NE(rejected.error().message.find("outside (0, 0.5]"), std::string::npos) << rejected.error().message;
  fs::remove_all(dir);
}

TEST(RunTune, TheBudgetStopsTheSearch) {
  const fs::path dir = fs::temp_directory_path() / "cellcam_test_tune_budget";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string fake = (dir / "slow-train.sh").string();
  std::ofstream(fake) << "#!/bin/sh\nout=; while [ $# -gt 0 ]; do [ \"$1\" = --out ] && out=$2; shift; done\n"
                         "mkdir -p \"$out\"; printf 'epoch,val_accuracy\\n1,0.5\\n' > \"$out/metrics.csv\"; sleep 30\n";
  fs::permissions(fake, fs::perms::owner_all);
  std::ofstream(dir / "space.json") << R"({"lr": {"log_uniform": [1e-4, 1e-2]}})";
  TrainOptions train{fake, [](const std::string&, const std::string&) { return std::string(); },
                     [](const std::string&) { return false; }};
  TuneSettings s;
  s.data = "DATA";
  s.space = (dir / "space.json").string();
  s.out = (dir / "search").string();
  s.budget_minutes = 0.03;  // 1.8 s: the first trial is stopped, none is recorded
  const auto t0 = std::chrono::steady_clock::now();
  auto r = run_tune(s, train);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r.value(), 0);
  EXPECT_LT(seconds, 15.0);
  fs::remove_all(dir);
}

// A trainer that cannot be started is a failed trial with the reason, not "(no output)", and the search
// goes on to the next trial.
TEST(RunTune, ATrainerThatCannotRunFailsTheTrialWithTheReason) {
  const fs::path dir = fs::temp_directory_path() / "cellcam_test_tune_noexec";
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir / "space.json") << R"({"lr": {"log_uniform": [1e-4, 1e-2]}})";
  TrainOptions train{(dir / "missing-cellcam").string(), [](const std::string&, const std::string&) { return std::string(); },
                     [](const std::string&) { return false; }};
  TuneSettings s;
  s.data = "DATA";
  s.space = (dir / "space.json").string();
  s.out = (dir / "search").string();
  s.trials = 2;
  auto r = run_tune(s, train);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r.value(), 2);
  auto trials = read_trials((fs::path(s.out) / "trials.jsonl").string());
  ASSERT_TRUE(trials);
  ASSERT_EQ(trials.value().size(), 2u);
  for (const Trial& t : trials.value()) {
    EXPECT_EQ(t.status, TrialStatus::kFailed);
    EXPECT_NE(t.error.find("cannot run " + (dir / "missing-cellcam").string() + ": No such file"), std::string::npos) << t.error;
    EXPECT_NE(t.error.find("(exit code 127)"), std::string::npos) << t.error;
  }
  fs::remove_all(dir);
}
