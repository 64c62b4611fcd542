// trial_runner.h — one trial as a `cellcam train` child process, watched while it runs.
//
// The child runs in its own process group with its output in RUN.log; every half second the runner
// reads the run's metrics.csv for the objective's per-epoch values, asks the stopping rule, and watches
// the budget's deadline and Ctrl-C. A stopped child gets SIGTERM, then SIGKILL after 10 s.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "cellcam/error.h"
#include "trial.h"

namespace cellcam::tune {

struct TrialJob {
  std::vector<std::string> argv;  // executable first
  std::string run_dir;            // the child's --out
  std::string log_path;
  std::string objective;          // metrics.csv column
  int folds = 0;                  // >= 2: read fold-1..K/metrics.csv, objective = mean of the folds' best
  bool maximize = true;
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  // Called with the curve after each new epoch; true stops the trial as pruned.
  std::function<bool(const std::vector<double>&)> stop_early;
};

enum class TrialEnd { kFinished, kPruned, kFailed, kBudget, kInterrupted };

struct TrialOutcome {
  TrialEnd end = TrialEnd::kFailed;
  std::vector<double> curve;  // single run: per epoch; folds: each fold's best (not a curve)
  double objective = 0.0;     // NaN when nothing was measured
  double seconds = 0.0;
  std::string error;
};

TrialOutcome run_trial_process(const TrialJob& job);

// The objective column of a metrics.csv text, one value per epoch (header names the columns).
Result<std::vector<double>> objective_column(const std::string& csv_text, const std::string& column);

// Set by the SIGINT/SIGTERM handler that run_tune installs.
void request_interrupt();
bool interrupt_requested();

}  // namespace cellcam::tune
