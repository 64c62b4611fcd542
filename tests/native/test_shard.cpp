// test_shard.cpp — each rank's share of an epoch (native/distributed/shard.h) and the launcher's options.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <numeric>
#include <set>

#include "launch.h"
#include "shard.h"

namespace {

using cellcam::dist::eval_shard_of;
using cellcam::dist::shard_of;
using cellcam::dist::unshard;

std::vector<int> iota(int n) {
  std::vector<int> v(n);
  std::iota(v.begin(), v.end(), 100);
  return v;
}

TEST(Shard, RanksAreDisjointEqualAndCoverTheEpoch) {
  for (int n : {1, 2, 7, 64, 101}) {
    for (int world : {1, 2, 3, 4, 8}) {
      const std::vector<int> order = iota(n);
      std::multiset<int> seen;
      std::size_t per_rank = 0;
      for (int r = 0; r < world; ++r) {
        const std::vector<int> s = shard_of(order, r, world);
        if (r == 0) per_rank = s.size();
        EXPECT_EQ(s.size(), per_rank) << "every rank takes the same number of steps";
        seen.insert(s.begin(), s.end());
      }
      EXPECT_EQ(per_rank, static_cast<std::size_t>((n + world - 1) / world));
      for (int x : order) EXPECT_GE(seen.count(x), 1u) << "n " << n << " world " << world;
      // Only the padding repeats items: exactly (per_rank * world - n) extra, all from the epoch's start.
      EXPECT_EQ(seen.size(), per_rank * world);
      int repeats = 0;
      for (int x : order) repeats += static_cast<int>(seen.count(x)) - 1;
      EXPECT_EQ(repeats, static_cast<int>(per_rank * world) - n);
    }
  }
}

TEST(Shard, TwoRanksBatchesAreOneProcesssBatches) {
  // Rank r's batch k at per-rank size b holds exactly a single process's batch k at size 2b.
  const std::vector<int> order = iota(48);
  const int b = 4, world = 2;
  for (int k = 0; k < 6; ++k) {
    std::set<int> ranks, single(order.begin() + k * b * world, order.begin() + (k + 1) * b * world);
    for (int r = 0; r < world; ++r) {
      const std::vector<int> s = shard_of(order, r, world);
      ranks.insert(s.begin() + k * b, s.begin() + (k + 1) * b);
    }
    EXPECT_EQ(ranks, single) << "batch " << k;
  }
}

TEST(Shard, EvaluationShardsCountEachImageOnceAndUnshardRestoresTheOrder) {
  for (int n : {0, 1, 5, 10, 33}) {
    for (int world : {1, 2, 3}) {
      const std::vector<int> items = iota(n);
      std::vector<std::vector<int>> parts;
      for (int r = 0; r < world; ++r) parts.push_back(eval_shard_of(items, r, world));
      EXPECT_EQ(unshard(parts), items) << "n " << n << " world " << world;
    }
  }
}

TEST(Launch, OptionsFromTheEnvironmentAndFlags) {
  setenv("RANK", "1", 1);
  setenv("WORLD_SIZE", "2", 1);
  setenv("MASTER_ADDR", "10.0.0.5", 1);
  setenv("MASTER_PORT", "29600", 1);
  unsetenv("LOCAL_RANK");
  cellcam::dist::DistOptions flags;
  auto o = cellcam::dist::resolve_dist_options(flags);
  ASSERT_TRUE(o.ok()) << o.error().message;
  EXPECT_EQ(o.value().rank, 1);
  EXPECT_EQ(o.value().world_size, 2);
  EXPECT_EQ(o.value().local_rank, 1);
  EXPECT_EQ(o.value().master_addr, "10.0.0.5");
  EXPECT_EQ(o.value().master_port, 29600);
  flags.master_port = 29700;  // a flag wins over the environment
  EXPECT_EQ(cellcam::dist::resolve_dist_options(flags).value().master_port, 29700);
  setenv("RANK", "2", 1);  // outside the world
  auto bad = cellcam::dist::resolve_dist_options(cellcam::dist::DistOptions{});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("rank 2 is outside 0..1"), std::string::npos) << bad.error().message;
  setenv("RANK", "x", 1);
  EXPECT_FALSE(cellcam::dist::resolve_dist_options(cellcam::dist::DistOptions{}).ok());
  for (const char* v : {"RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"}) unsetenv(v);
  cellcam::dist::DistOptions nproc;
  nproc.nproc = 2;
  auto launched = cellcam::dist::resolve_dist_options(nproc);
  ASSERT_TRUE(launched.ok());
  EXPECT_GT(launched.value().master_port, 0) << "--nproc alone picks a free port";
  EXPECT_EQ(cellcam::dist::threads_per_rank(3, 2), 3);
  EXPECT_GE(cellcam::dist::threads_per_rank(0, 64), 1);
}

}  // namespace
