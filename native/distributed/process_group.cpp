// process_group.cpp — see process_group.h.
//
// Keys in the store (all under "cellcam/"): arrived (a counter), rank/<r> (how often rank r arrived),
// world/<r> (the world size rank r was started with), heartbeat/<r> (a counter each rank bumps every
// second from a thread of its own, on a connection of its own), done/<key>/<r> (wait_for_all), and the
// Gloo rendezvous under gloo/.
#include "process_group.h"

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef USE_C10D_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>

#include "runtime.h"

namespace cellcam::dist {

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t kBucketBytes = 8u << 20;

std::chrono::milliseconds millis(double seconds) { return std::chrono::milliseconds(static_cast<long>(seconds * 1000)); }

std::vector<uint8_t> bytes_of(const std::string& s) { return std::vector<uint8_t>(s.begin(), s.end()); }
std::string text_of(const std::vector<uint8_t>& b) { return std::string(b.begin(), b.end()); }

c10::intrusive_ptr<c10d::TCPStore> connect_store(const DistOptions& o, bool server, double timeout_s) {
  c10d::TCPStoreOptions options;
  options.port = static_cast<std::uint16_t>(o.master_port);
  options.isServer = server;
  options.numWorkers = c10::nullopt;
  options.waitWorkers = false;
  options.timeout = millis(timeout_s);
  return c10::make_intrusive<c10d::TCPStore>(o.master_addr, options);
}

std::shared_ptr<gloo::transport::Device> gloo_device(const DistOptions& o) {
  if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname && *ifname)
    return c10d::ProcessGroupGloo::createDeviceForInterface(ifname);
  if (o.master_addr == "127.0.0.1" || o.master_addr == "localhost")
    return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
  return c10d::ProcessGroupGloo::createDefaultDevice();
}

}  // namespace

struct Group::Impl {
  DistOptions options;
  c10::intrusive_ptr<c10d::TCPStore> store;
  c10::intrusive_ptr<c10d::ProcessGroup> cpu;   // Gloo: bytes, sums, and the tensors when not on CUDA
  c10::intrusive_ptr<c10d::ProcessGroup> data;  // NCCL for CUDA tensors, else the same as cpu
  std::thread heartbeat;
  std::mutex mutex;
  std::condition_variable wake;
  bool stopping = false;

  void beat(int rank) {
    try {
      auto client = connect_store(options, /*server=*/false, 10);
      const std::string key = "cellcam/heartbeat/" + std::to_string(rank);
      std::unique_lock<std::mutex> lock(mutex);
      while (!stopping) {
        lock.unlock();
        client->add(key, 1);
        lock.lock();
        wake.wait_for(lock, std::chrono::seconds(1), [&] { return stopping; });
      }
    } catch (const std::exception&) {
      // The store is gone (rank 0 finished or died): nothing left to beat for.
    }
  }
};

std::unique_ptr<Group> Group::solo() { return std::unique_ptr<Group>(new Group()); }

Result<std::unique_ptr<Group>> Group::join(const DistOptions& o, bool cuda) {
  std::unique_ptr<Group> g = solo();
  g->rank_ = o.rank;
  g->world_ = o.world_size;
  if (o.world_size == 1) return g;
  g->impl_ = std::make_unique<Impl>();
  Impl& impl = *g->impl_;
  impl.options = o;
  const std::string where = o.master_addr + ":" + std::to_string(o.master_port);
  try {
    impl.store = connect_store(o, o.rank == 0, o.timeout_s);
  } catch (const std::exception& e) {
    if (o.rank == 0)
      return make_error(ErrorCode::kIo, "rank 0 cannot host the rendezvous on " + where + " (" + native::first_line(e.what()) +
                                            "): the port is in use or the address is not this machine's; choose another "
                                            "--master-port / MASTER_PORT");
    return make_error(ErrorCode::kIo, "rank " + std::to_string(o.rank) + " found no rendezvous on " + where + " within " +
                                          std::to_string(static_cast<int>(o.timeout_s)) + " s (" + native::first_line(e.what()) +
                                          "): is rank 0 running, with the same MASTER_ADDR and MASTER_PORT?");
  }
  try {
    c10d::TCPStore& store = *impl.store;
    if (store.add("cellcam/rank/" + std::to_string(o.rank), 1) > 1)
      return make_error(ErrorCode::kInvalidArgument, "rank " + std::to_string(o.rank) + " was started twice: give every process its own RANK");
    store.set("cellcam/world/" + std::to_string(o.rank), bytes_of(std::to_string(o.world_size)));
    const auto deadline = Clock::now() + millis(o.timeout_s);
    store.add("cellcam/arrived", 1);
    for (;;) {
      // Rank 0's world size is the one that counts; a rank started with another one is told so.
      if (o.rank != 0 && store.check({"cellcam/world/0"})) {
        const std::string zero = text_of(store.get("cellcam/world/0"));
        if (zero != std::to_string(o.world_size))
          return make_error(ErrorCode::kInvalidArgument, "WORLD_SIZE differs between ranks: rank 0 has " + zero + ", rank " +
                                                             std::to_string(o.rank) + " has " + std::to_string(o.world_size));
      }
      const int64_t count = store.add("cellcam/arrived", 0);
      if (count > o.world_size)
        return make_error(ErrorCode::kInvalidArgument, std::to_string(count) + " processes joined a world of " +
                                                           std::to_string(o.world_size) + " (WORLD_SIZE differs between them)");
      if (count == o.world_size) break;
      if (Clock::now() > deadline)
        return make_error(ErrorCode::kIo, "rendezvous on " + where + " timed out after " + std::to_string(static_cast<int>(o.timeout_s)) +
                                              " s: " + std::to_string(count) + " of " + std::to_string(o.world_size) +
                                              " ranks arrived (WORLD_SIZE " + std::to_string(o.world_size) +
                                              "): start every rank, all with the same WORLD_SIZE");
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    auto gloo_options = c10d::ProcessGroupGloo::Options::create();
    gloo_options->devices.push_back(gloo_device(o));
    gloo_options->timeout = millis(o.timeout_s);
    auto prefixed = c10::make_intrusive<c10d::PrefixStore>("cellcam/gloo", impl.store);
    impl.cpu = c10::make_intrusive<c10d::ProcessGroupGloo>(prefixed, o.rank, o.world_size, gloo_options);
    impl.data = impl.cpu;
    g->backend_ = "gloo";
    const bool want_nccl = o.backend == "nccl" || (o.backend == "auto" && cuda);
    if (want_nccl) {
#ifdef USE_C10D_NCCL
      auto nccl_store = c10::make_intrusive<c10d::PrefixStore>("cellcam/nccl", impl.store);
      auto nccl_options = c10d::ProcessGroupNCCL::Options::create();
      nccl_options->timeout = millis(o.timeout_s);
      impl.data = c10::make_intrusive<c10d::ProcessGroupNCCL>(nccl_store, o.rank, o.world_size, nccl_options);
      g->backend_ = "nccl";
#else
      if (o.backend == "nccl")
        return make_error(ErrorCode::kInvalidArgument, "--dist-backend nccl: this LibTorch was built without CUDA/NCCL; use gloo");
#endif
    }
  } catch (const std::exception& e) {
    return make_error(ErrorCode::kIo, "rendezvous on " + where + " failed: " + native::first_line(e.what()));
  }
  impl.heartbeat = std::thread([&impl, rank = o.rank] { impl.beat(rank); });
  return g;
}

Group::~Group() {
  if (!impl_) return;
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->wake.notify_all();
  if (impl_->heartbeat.joinable()) impl_->heartbeat.join();
}

// A collective failed: find out which rank is gone. Rank 0 hosts the store, so a store that cannot be
// reached means rank 0; otherwise the ranks whose heartbeat did not move for 3 seconds.
Error Group::peer_failure(const std::string& what, const std::exception& e) {
  const std::string cause = native::first_line(e.what());
  std::string gone;
  try {
    auto client = connect_store(impl_->options, /*server=*/false, 3);
    auto read = [&] {
      std::vector<int64_t> beats;
      for (int r = 0; r < world_; ++r) beats.push_back(client->add("cellcam/heartbeat/" + std::to_string(r), 0));
      return beats;
    };
    const std::vector<int64_t> before = read();
    std::this_thread::sleep_for(std::chrono::milliseconds(3000));
    const std::vector<int64_t> after = read();
    for (int r = 0; r < world_; ++r)
      if (r != rank_ && after[r] == before[r]) gone += (gone.empty() ? "" : ", ") + std::to_string(r);
  } catch (const std::exception&) {
    if (rank_ != 0) gone = "0";
  }
  const std::string who = gone.empty() ? "another rank" : (gone.find(',') == std::string::npos ? "rank " : "ranks ") + gone;
  return make_error(ErrorCode::kIo, who + " stopped responding during " + what + " (rank " + std::to_string(rank_) +
                                        " saw: " + cause + "); stopping. The run folder keeps its last completed epoch: "
                                        "continue with --resume");
}

namespace {

// Times a collective and turns a failure into a Result.
template <typename F>
Result<bool> timed(double& total, F&& f) {
  const auto t0 = Clock::now();
  f();
  total += std::chrono::duration<double>(Clock::now() - t0).count();
  return true;
}

}  // namespace

#define CELLCAM_COLLECTIVE(what, body)          \
  try {                                         \
    return timed(comm_seconds_, [&] { body; }); \
  } catch (const std::exception& e) {           \
    return peer_failure(what, e);               \
  }

Result<bool> Group::broadcast(const std::vector<torch::Tensor>& tensors, const char* what) {
  if (world_ == 1 || tensors.empty()) return true;
  CELLCAM_COLLECTIVE(what, {
    c10d::BroadcastOptions options;
    options.rootRank = 0;
    for (const torch::Tensor& t : tensors) {
      const bool nccl = backend_ == "nccl" && t.is_cuda();
      std::vector<at::Tensor> one{nccl || !t.is_cuda() ? t : t.cpu()};
      (nccl ? impl_->data : impl_->cpu)->broadcast(one, options)->wait();
      if (!nccl && t.is_cuda()) t.copy_(one[0]);
    }
  })
}

Result<bool> Group::broadcast_bytes(std::string& bytes, const char* what) {
  if (world_ == 1) return true;
  CELLCAM_COLLECTIVE(what, {
    c10d::BroadcastOptions options;
    options.rootRank = 0;
    std::vector<at::Tensor> size{torch::tensor({static_cast<int64_t>(bytes.size())}, torch::kLong)};
    impl_->cpu->broadcast(size, options)->wait();
    const int64_t n = size[0].item<int64_t>();
    if (rank_ != 0) bytes.assign(static_cast<std::size_t>(n), '\0');
    if (n > 0) {
      std::vector<at::Tensor> data{torch::from_blob(bytes.data(), {n}, torch::kUInt8)};
      impl_->cpu->broadcast(data, options)->wait();
    }
  })
}

Result<bool> Group::average_gradients(const std::vector<torch::Tensor>& parameters) {
  if (world_ == 1) return true;
  CELLCAM_COLLECTIVE("the gradient all-reduce", {
    std::vector<torch::Tensor> bucket;
    std::size_t bucket_bytes = 0;
    auto flush = [&] {
      if (bucket.empty()) return;
      std::vector<torch::Tensor> flat_views;
      for (const torch::Tensor& g : bucket) flat_views.push_back(g.reshape({-1}));
      torch::Tensor flat = torch::cat(flat_views);
      const bool nccl = backend_ == "nccl" && flat.is_cuda();
      std::vector<at::Tensor> one{nccl || !flat.is_cuda() ? flat : flat.cpu()};
      (nccl ? impl_->data : impl_->cpu)->allreduce(one)->wait();
      one[0].div_(world_);
      const torch::Tensor summed = one[0].to(flat.device());
      int64_t offset = 0;
      for (const torch::Tensor& g : bucket) {
        g.copy_(summed.narrow(0, offset, g.numel()).view_as(g));
        offset += g.numel();
      }
      bucket.clear();
      bucket_bytes = 0;
    };
    for (const torch::Tensor& p : parameters) {
      if (!p.requires_grad()) continue;
      torch::Tensor g = p.mutable_grad();
      if (!g.defined()) {
        g = torch::zeros_like(p);  // every rank must send the same buckets, used or not
        p.mutable_grad() = g;
      }
      bucket.push_back(g);
      bucket_bytes += g.numel() * g.element_size();
      if (bucket_bytes >= kBucketBytes) flush();
    }
    flush();
  })
}

Result<bool> Group::sum(std::vector<double>& values, const char* what) {
  if (world_ == 1 || values.empty()) return true;
  CELLCAM_COLLECTIVE(what, {
    std::vector<at::Tensor> one{torch::from_blob(values.data(), {static_cast<int64_t>(values.size())}, torch::kDouble)};
    impl_->cpu->allreduce(one)->wait();
  })
}

Result<bool> Group::sum_tensor(torch::Tensor& tensor, const char* what) {
  if (world_ == 1) return true;
  CELLCAM_COLLECTIVE(what, {
    const bool nccl = backend_ == "nccl" && tensor.is_cuda();
    std::vector<at::Tensor> one{nccl || !tensor.is_cuda() ? tensor.contiguous() : tensor.cpu()};
    (nccl ? impl_->data : impl_->cpu)->allreduce(one)->wait();
    tensor.copy_(one[0].to(tensor.device()));
  })
}

Result<std::vector<std::string>> Group::all_gather_bytes(const std::string& mine, const char* what) {
  if (world_ == 1) return std::vector<std::string>{mine};
  std::vector<std::string> out(world_);
  Result<bool> done = [&]() -> Result<bool> {
    CELLCAM_COLLECTIVE(what, {
      std::vector<at::Tensor> size_in{torch::tensor({static_cast<int64_t>(mine.size())}, torch::kLong)};
      std::vector<std::vector<at::Tensor>> size_out(1);
      for (int r = 0; r < world_; ++r) size_out[0].push_back(torch::zeros({1}, torch::kLong));
      impl_->cpu->allgather(size_out, size_in)->wait();
      int64_t longest = 0;
      for (const at::Tensor& t : size_out[0]) longest = std::max(longest, t.item<int64_t>());
      torch::Tensor padded = torch::zeros({std::max<int64_t>(longest, 1)}, torch::kUInt8);
      std::memcpy(padded.data_ptr(), mine.data(), mine.size());
      std::vector<at::Tensor> data_in{padded};
      std::vector<std::vector<at::Tensor>> data_out(1);
      for (int r = 0; r < world_; ++r) data_out[0].push_back(torch::zeros_like(padded));
      impl_->cpu->allgather(data_out, data_in)->wait();
      for (int r = 0; r < world_; ++r)
        out[r].assign(static_cast<const char*>(data_out[0][r].data_ptr()), static_cast<std::size_t>(size_out[0][r].item<int64_t>()));
    })
  }();
  if (!done) return done.error();
  return out;
}

Result<bool> Group::agree(const Result<bool>& mine, const char* what) {
  if (world_ == 1) return mine;
  Result<std::vector<std::string>> all = all_gather_bytes(mine ? std::string() : "E" + mine.error().message, what);
  if (!all) return all.error();
  if (!mine) {
    reported_by_rank0_ = rank_ != 0;  // rank 0 has it now and reports it
    return mine;
  }
  for (int r = 0; r < world_; ++r)
    if (!all.value()[r].empty()) {
      reported_by_rank0_ = true;
      return make_error(ErrorCode::kIo, "rank " + std::to_string(r) + " failed (" + what + "): " + all.value()[r].substr(1));
    }
  return true;
}

Result<bool> Group::wait_for_all(const std::string& key) {
  if (world_ == 1) return true;
  const std::string prefix = "cellcam/done/" + key + "/";
  try {
    impl_->store->set(prefix + std::to_string(rank_), bytes_of("1"));
    auto client = connect_store(impl_->options, /*server=*/false, 10);
    std::vector<int64_t> last(world_, -1);
    std::vector<Clock::time_point> moved(world_, Clock::now());
    for (;;) {
      int finished = 0;
      for (int r = 0; r < world_; ++r) {
        if (client->check({prefix + std::to_string(r)})) {
          ++finished;
          continue;
        }
        const int64_t beat = client->add("cellcam/heartbeat/" + std::to_string(r), 0);
        if (beat != last[r]) {
          last[r] = beat;
          moved[r] = Clock::now();
        } else if (Clock::now() - moved[r] > millis(std::min(impl_->options.timeout_s, 30.0))) {
          return make_error(ErrorCode::kIo, "rank " + std::to_string(r) + " stopped responding (no heartbeat) before it finished " + key);
        }
      }
      if (finished == world_) return leave_together(*client, prefix);
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
  } catch (const std::exception& e) {
    return peer_failure("waiting for " + key, e);
  }
}

// The store lives in rank 0's process. Rank 0, free to go on once everyone is done, could finish and take the
// store with it while another rank still polls it (measured in CI: "Broken pipe" on rank 1 after a correct
// cross-validation). So each other rank says it has left, and rank 0 returns only after all have, or after
// the timeout: by then all work is done, and a rank that died after finishing loses nothing.
Result<bool> Group::leave_together(c10d::Store& client, const std::string& prefix) {
  if (rank_ != 0) {
    client.set(prefix + "left/" + std::to_string(rank_), bytes_of("1"));
    return true;
  }
  const Clock::time_point start = Clock::now();
  for (int r = 1; r < world_; ++r)
    while (!client.check({prefix + "left/" + std::to_string(r)}) && Clock::now() - start < millis(impl_->options.timeout_s))
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
  return true;
}

Result<bool> Group::publish(const std::string& key, const std::string& value) {
  if (world_ == 1) return make_error(ErrorCode::kInternal, "publish without a store");
  try {
    impl_->store->set("cellcam/mail/" + key, bytes_of(value));
  } catch (const std::exception& e) {
    return peer_failure("sending " + key, e);
  }
  return true;
}

Result<std::string> Group::fetch(const std::string& key) {
  if (world_ == 1) return make_error(ErrorCode::kInternal, "fetch without a store");
  try {
    return text_of(impl_->store->get("cellcam/mail/" + key));
  } catch (const std::exception& e) {
    return peer_failure("receiving " + key, e);
  }
}

}  // namespace cellcam::dist
