// launch.h — who this process is in a distributed training, and how `cellcam train --nproc N` starts the
// others. The convention is torchrun's: every process reads RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and
// MASTER_PORT from its environment (a flag, when given, wins), and rank 0 hosts the rendezvous store on
// MASTER_ADDR:MASTER_PORT. `--nproc N` on one machine sets those for N children of its own and waits.
// Torch-free: the CLI and the tests include it.
#pragma once

#include <string>
#include <vector>

#include "cellcam/error.h"

namespace cellcam::dist {

struct DistOptions {
  int nproc = 0;                 // > 0: launch this many local ranks (this process only waits for them)
  int rank = -1;                 // -1: from RANK, else 0
  int world_size = -1;           // -1: from WORLD_SIZE, else 1
  int local_rank = -1;           // -1: from LOCAL_RANK, else the rank
  std::string master_addr;       // "": from MASTER_ADDR, else 127.0.0.1
  int master_port = -1;          // -1: from MASTER_PORT, else 29500
  std::string backend = "auto";  // auto | gloo | nccl
  double timeout_s = 600;        // a collective or the rendezvous that waits longer than this fails
  bool sync_batch_norm = false;  // batch norm statistics over all ranks (default: each rank its own batch)
};

// The options with the environment filled in and checked (a rank outside [0, world), a port outside
// 1..65535, ...): one line on error.
Result<DistOptions> resolve_dist_options(const DistOptions& flags);

// Each rank's share of LibTorch threads when `ranks` share this machine and the user asked for
// `requested` (0: all cores): the cores split evenly, at least one each.
int threads_per_rank(int requested, int ranks);

// A TCP port on 127.0.0.1 that was free a moment ago (for --nproc without --master-port).
Result<int> free_local_port();

// --nproc N: runs this same command line N times (without --nproc) with RANK, WORLD_SIZE, LOCAL_RANK,
// MASTER_ADDR and MASTER_PORT set, and waits. When a rank fails, the others get `grace_s` seconds to stop
// on their own (they notice through their collectives) before they are killed. Returns the exit status
// to give: 0 when every rank succeeded. `args` is the command line as main() got it.
int launch_local_ranks(const std::vector<std::string>& args, const DistOptions& options, double grace_s);

// The command line main() was given (set once by main; the launcher re-runs it).
void set_command_line(int argc, char** argv);
const std::vector<std::string>& command_line();

}  // namespace cellcam::dist
