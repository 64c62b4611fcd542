// shard.cpp — see shard.h.
#include "shard.h"

namespace cellcam::dist {

std::vector<int> shard_of(const std::vector<int>& order, int rank, int world) {
  if (world <= 1) return order;
  if (order.empty()) return {};
  const std::size_t per_rank = (order.size() + world - 1) / world;
  std::vector<int> out;
  out.reserve(per_rank);
  for (std::size_t k = 0; k < per_rank; ++k) out.push_back(order[(k * world + rank) % order.size()]);
  return out;
}

std::vector<int> eval_shard_of(const std::vector<int>& items, int rank, int world) {
  if (world <= 1) return items;
  std::vector<int> out;
  for (std::size_t i = rank; i < items.size(); i += world) out.push_back(items[i]);
  return out;
}

}  // namespace cellcam::dist
