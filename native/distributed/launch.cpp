// launch.cpp — see launch.h. The children are fork()+execv() of /proc/self/exe, so they run this very
// binary whatever PATH says.
#include "launch.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

namespace cellcam::dist {

namespace {

std::vector<std::string>& stored_command_line() {
  static std::vector<std::string> args;
  return args;
}

// An integer environment variable: `fallback` when unset, an error when set to something else.
Result<int> env_int(const char* name, int fallback) {
  const char* text = std::getenv(name);
  if (!text || !*text) return fallback;
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  if (*end != '\0' || value < -1 || value > 1 << 30)
    return make_error(ErrorCode::kInvalidArgument, std::string(name) + "=\"" + text + "\" is not a whole number");
  return static_cast<int>(value);
}

Error invalid(const std::string& text) { return make_error(ErrorCode::kInvalidArgument, text); }

// argv without `--nproc N` / `--nproc=N` (the children must not launch again).
std::vector<std::string> without_nproc(const std::vector<std::string>& args) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--nproc") {
      ++i;
      continue;
    }
    if (args[i].rfind("--nproc=", 0) == 0) continue;
    out.push_back(args[i]);
  }
  return out;
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("was killed by signal ") + std::to_string(WTERMSIG(status)) + " (" +
                                  strsignal(WTERMSIG(status)) + ")";
  return "stopped";
}

}  // namespace

void set_command_line(int argc, char** argv) {
  stored_command_line().assign(argv, argv + argc);
}

const std::vector<std::string>& command_line() { return stored_command_line(); }

Result<DistOptions> resolve_dist_options(const DistOptions& flags) {
  DistOptions o = flags;
  if (o.nproc < 0) return invalid("--nproc must be 1 or more");
  if (o.nproc > 0) {
    if (std::getenv("RANK") && *std::getenv("RANK"))
      return invalid("--nproc starts its own ranks, but RANK is set in the environment: use one or the other");
    if (o.rank >= 0 || o.world_size >= 0) return invalid("--nproc starts its own ranks: leave out --rank and --world-size");
  }
  Result<int> rank = env_int("RANK", 0), world = env_int("WORLD_SIZE", 1), local = env_int("LOCAL_RANK", -1),
              port = env_int("MASTER_PORT", 29500);
  for (const Result<int>* r : {&rank, &world, &local, &port})
    if (!*r) return r->error();
  if (o.rank < 0) o.rank = rank.value();
  if (o.world_size < 0) o.world_size = world.value();
  if (o.local_rank < 0) o.local_rank = local.value() >= 0 ? local.value() : o.rank;
  if (o.master_port < 0 && o.nproc > 0 && !(std::getenv("MASTER_PORT") && *std::getenv("MASTER_PORT"))) {
    Result<int> free = free_local_port();  // --nproc alone: any free port, so two launches never collide
    if (!free) return free.error();
    o.master_port = free.value();
  }
  if (o.master_port < 0) o.master_port = port.value();
  if (o.master_addr.empty()) o.master_addr = std::getenv("MASTER_ADDR") && *std::getenv("MASTER_ADDR") ? std::getenv("MASTER_ADDR") : "127.0.0.1";
  if (o.world_size < 1) return invalid("the world size must be 1 or more (WORLD_SIZE / --world-size is " + std::to_string(o.world_size) + ")");
  if (o.rank < 0 || o.rank >= o.world_size)
    return invalid("rank " + std::to_string(o.rank) + " is outside 0.." + std::to_string(o.world_size - 1) + " (WORLD_SIZE " +
                   std::to_string(o.world_size) + ")");
  if (o.master_port < 1 || o.master_port > 65535)
    return invalid("the rendezvous port must be from 1 to 65535 (MASTER_PORT / --master-port is " + std::to_string(o.master_port) + ")");
  if (o.backend != "auto" && o.backend != "gloo" && o.backend != "nccl")
    return invalid("--dist-backend must be auto, gloo or nccl");
  if (!(o.timeout_s >= 1 && o.timeout_s <= 86400)) return invalid("--dist-timeout must be from 1 to 86400 seconds");
  return o;
}

int threads_per_rank(int requested, int ranks) {
  if (requested > 0) return requested;
  const unsigned cores = std::thread::hardware_concurrency();
  return std::max(1, static_cast<int>(cores > 0 ? cores : 1) / std::max(1, ranks));
}

Result<int> free_local_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return make_error(ErrorCode::kIo, std::string("cannot open a socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t length = sizeof(addr);
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
                  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length) == 0;
  const int error = errno;
  close(fd);
  if (!ok) return make_error(ErrorCode::kIo, std::string("cannot find a free port on 127.0.0.1: ") + std::strerror(error));
  return static_cast<int>(ntohs(addr.sin_port));
}

int launch_local_ranks(const std::vector<std::string>& args, const DistOptions& options, double grace_s) {
  const std::vector<std::string> child_args = without_nproc(args);
  const int port = options.master_port;
  std::vector<pid_t> pids;
  for (int r = 0; r < options.nproc; ++r) {
    const pid_t pid = fork();
    if (pid < 0) {
      std::fprintf(stderr, "cellcam train: cannot start rank %d: %s\n", r, std::strerror(errno));
      for (pid_t p : pids) kill(p, SIGTERM);
      for (pid_t p : pids) waitpid(p, nullptr, 0);
      return 1;
    }
    if (pid == 0) {
      setenv("RANK", std::to_string(r).c_str(), 1);
      setenv("LOCAL_RANK", std::to_string(r).c_str(), 1);
      setenv("WORLD_SIZE", std::to_string(options.nproc).c_str(), 1);
      setenv("MASTER_ADDR", options.master_addr.c_str(), 1);
      setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
      setenv("LOCAL_WORLD_SIZE", std::to_string(options.nproc).c_str(), 1);  // the ranks share this machine's cores
      std::vector<char*> argv;
      for (const std::string& a : child_args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      execv("/proc/self/exe", argv.data());
      std::fprintf(stderr, "cellcam train: cannot start rank %d: %s\n", r, std::strerror(errno));
      _exit(127);
    }
    pids.push_back(pid);
  }
  // Wait for all; after the first failure, give the rest `grace_s` to stop by themselves.
  std::vector<int> status(pids.size(), 0);
  std::vector<bool> done(pids.size(), false);
  int remaining = static_cast<int>(pids.size()), first_failed = -1;
  auto failed_at = std::chrono::steady_clock::time_point::max();
  bool killed = false;
  while (remaining > 0) {
    int st = 0;
    const pid_t pid = waitpid(-1, &st, WNOHANG);
    if (pid > 0) {
      for (std::size_t r = 0; r < pids.size(); ++r)
        if (pids[r] == pid && !done[r]) {
          done[r] = true;
          status[r] = st;
          --remaining;
          const bool ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
          if (!ok && first_failed < 0) {
            first_failed = static_cast<int>(r);
            failed_at = std::chrono::steady_clock::now();
          }
        }
      continue;
    }
    if (first_failed >= 0 && !killed &&
        std::chrono::steady_clock::now() - failed_at > std::chrono::duration<double>(grace_s)) {
      for (std::size_t r = 0; r < pids.size(); ++r)
        if (!done[r]) {
          std::fprintf(stderr, "cellcam train: rank %zu did not stop %.0f s after rank %d failed: killing it\n", r, grace_s, first_failed);
          kill(pids[r], SIGKILL);
        }
      killed = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (first_failed < 0) return 0;
  std::string summary;
  for (std::size_t r = 0; r < pids.size(); ++r)
    summary += (summary.empty() ? "" : "; ") + ("rank " + std::to_string(r) + " " + describe_status(status[r]));
  std::fprintf(stderr, "cellcam train: rank %d failed first (%s)\n", first_failed, summary.c_str());
  const int st = status[first_failed];
  return WIFEXITED(st) && WEXITSTATUS(st) != 0 ? WEXITSTATUS(st) : 1;
}

}  // namespace cellcam::dist
