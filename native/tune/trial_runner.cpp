// trial_runner.cpp — fork/exec one training, poll its metrics, stop it when asked (see trial_runner.h).
#include "trial_runner.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "file_io.h"

namespace cellcam::tune {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

volatile std::sig_atomic_t g_interrupt = 0;

std::vector<std::string> split_csv_line(const std::string& line) {
  std::vector<std::string> cells;
  std::stringstream in(line);
  for (std::string cell; std::getline(in, cell, ',');) cells.push_back(cell);
  return cells;
}

// Starts argv in its own process group (so SIGTERM reaches its threads' children too), output to log.
pid_t spawn(const std::vector<std::string>& argv, const std::string& log_path) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t pid = fork();
  if (pid != 0) return pid;  // parent (or -1)
  setpgid(0, 0);
  const int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd >= 0) {
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
    close(fd);
  }
  execv(args[0], args.data());
  // No stdio after fork: the reason goes into the trial's log with write(2); the parent reports its last line.
  const char* what = std::strerror(errno);
  const char* parts[] = {"cannot run ", args[0], ": ", what, "\n"};
  for (const char* part : parts)
    if (write(STDERR_FILENO, part, std::strlen(part)) < 0) break;
  _exit(127);
}

std::string last_line(const std::string& path) {
  std::ifstream in(path);
  std::string line, last;
  while (std::getline(in, line))
    if (line.find_first_not_of(" \t\r") != std::string::npos) last = line;
  return last.empty() ? "(no output)" : last;
}

double best_of(const std::vector<double>& v, bool maximize) {
  double best = NAN;
  for (double x : v)
    if (std::isfinite(x) && (!std::isfinite(best) || (maximize ? x > best : x < best))) best = x;
  return best;
}

std::vector<double> read_curve(const std::string& run_dir, const std::string& column) {
  Result<std::string> text = native::read_text((fs::path(run_dir) / "metrics.csv").string());
  if (!text) return {};
  Result<std::vector<double>> values = objective_column(text.value(), column);
  return values ? values.take() : std::vector<double>{};
}

// Stops the whole process group: SIGTERM, then SIGKILL if it has not gone after 10 s.
int stop_child(pid_t pid) {
  kill(-pid, SIGTERM);
  int status = 0;
  for (int i = 0; i < 100; ++i) {
    if (waitpid(pid, &status, WNOHANG) == pid) return status;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  kill(-pid, SIGKILL);
  waitpid(pid, &status, 0);
  return status;
}

}  // namespace

void request_interrupt() { g_interrupt = 1; }
bool interrupt_requested() { return g_interrupt != 0; }

Result<std::vector<double>> objective_column(const std::string& csv_text, const std::string& column) {
  std::stringstream in(csv_text);
  std::string header;
  if (!std::getline(in, header)) return make_error(ErrorCode::kCorrupt, "metrics.csv is empty");
  const std::vector<std::string> names = split_csv_line(header);
  const auto it = std::find(names.begin(), names.end(), column);
  if (it == names.end()) return make_error(ErrorCode::kCorrupt, "metrics.csv has no column " + column);
  const std::size_t k = static_cast<std::size_t>(it - names.begin());
  std::vector<double> values;
  for (std::string line; std::getline(in, line);) {
    const std::vector<std::string> cells = split_csv_line(line);
    if (cells.size() != names.size()) break;  // a row being written
    values.push_back(std::strtod(cells[k].c_str(), nullptr));  // "nan" -> NaN
  }
  return values;
}

TrialOutcome run_trial_process(const TrialJob& job) {
  TrialOutcome out;
  const Clock::time_point start = Clock::now();
  const pid_t pid = spawn(job.argv, job.log_path);
  if (pid < 0) {
    out.error = "cannot start " + job.argv[0] + ": " + std::strerror(errno);
    return out;
  }
  int status = 0;
  std::size_t epochs_seen = 0;
  bool exited = false;
  while (!exited) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    exited = waitpid(pid, &status, WNOHANG) == pid;
    if (job.folds < 2) {
      out.curve = read_curve(job.run_dir, job.objective);
      if (!exited && out.curve.size() > epochs_seen) {
        epochs_seen = out.curve.size();
        if (job.stop_early && job.stop_early(out.curve)) {
          stop_child(pid);
          out.end = TrialEnd::kPruned;
          break;
        }
      }
    }
    if (exited) break;
    if (interrupt_requested() || Clock::now() >= job.deadline) {
      stop_child(pid);
      out.end = interrupt_requested() ? TrialEnd::kInterrupted : TrialEnd::kBudget;
      break;
    }
  }
  out.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (job.folds >= 2) {
    out.curve.clear();
    for (int k = 1; k <= job.folds; ++k)
      out.curve.push_back(best_of(read_curve((fs::path(job.run_dir) / ("fold-" + std::to_string(k))).string(), job.objective), job.maximize));
  }
  if (exited) {
    const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    out.end = ok ? TrialEnd::kFinished : TrialEnd::kFailed;
    if (!ok) {
      const std::string how = WIFSIGNALED(status) ? "killed by signal " + std::to_string(WTERMSIG(status))
                                                  : "exit code " + std::to_string(WEXITSTATUS(status));
      out.error = last_line(job.log_path) + " (" + how + ")";
    }
  }
  if (job.folds >= 2) {
    double sum = 0.0;
    for (double v : out.curve) sum += v;
    out.objective = out.curve.empty() ? NAN : sum / static_cast<double>(out.curve.size());
  } else {
    out.objective = best_of(out.curve, job.maximize);
  }
  if (out.end == TrialEnd::kFinished && !std::isfinite(out.objective)) {
    out.end = TrialEnd::kFailed;
    out.error = "the run finished without a " + job.objective + " value in its metrics.csv";
  }
  return out;
}

}  // namespace cellcam::tune
