// shard.h — which samples each rank sees (torch-free, unit-tested).
//
// DistributedSampler's semantics: every rank shuffles the epoch's order the same way (seeded by seed and
// epoch, so a new epoch reshuffles), pads it by repeating its first items until it divides by the world
// size, and takes every world-th item starting at its rank. Every rank gets the same number of samples
// (so all take the same number of steps), the shards are disjoint apart from the padding, and together
// they cover the epoch. Interleaving (not contiguous blocks) makes rank r's batch k, with the per-rank
// batch size b, hold exactly the items of a single process's batch k at batch size b * world: the
// two-rank run trains on the same global batches as one process.
#pragma once

#include <vector>

namespace cellcam::dist {

// `order`, padded to a multiple of `world` and interleaved: rank's items. world 1 returns `order`.
std::vector<int> shard_of(const std::vector<int>& order, int rank, int world);

// Evaluation shards: no padding (each image counted once), interleaved the same way.
std::vector<int> eval_shard_of(const std::vector<int>& items, int rank, int world);

// The inverse of eval sharding: per-rank lists (each in its shard's order) back in the original order.
template <typename T>
std::vector<T> unshard(const std::vector<std::vector<T>>& per_rank) {
  std::size_t total = 0;
  for (const auto& part : per_rank) total += part.size();
  std::vector<T> out;
  out.reserve(total);
  const std::size_t world = per_rank.size();
  for (std::size_t i = 0; i < total; ++i) out.push_back(per_rank[i % world][i / world]);
  return out;
}

}  // namespace cellcam::dist
