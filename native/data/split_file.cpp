// split_file.cpp — see split_file.h. The same load_dataset + make_split calls as the trainer, so
// the same data, fractions and seed give the same file as a run's split.csv.
#include "split_file.h"

#include <cstdio>
#include <filesystem>

#include "dataset.h"
#include "split.h"

namespace cellcam::data {

int run_split(const SplitSettings& s) {
  Result<Dataset> dataset = load_dataset(s.data);
  if (!dataset) {
    std::fprintf(stderr, "cellcam split: %s: %s\n", s.data.c_str(), dataset.error().message.c_str());
    return 1;
  }
  const std::filesystem::path parent = std::filesystem::path(s.out).parent_path();
  std::error_code ec;
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  if (ec) {
    std::fprintf(stderr, "cellcam split: cannot create %s: %s\n", parent.string().c_str(), ec.message().c_str());
    return 1;
  }
  Result<Split> split = make_split(dataset.value(), {s.val_fraction, s.test_fraction, s.seed, s.folds, s.fold});
  Result<bool> written = split ? write_split_csv(s.out, dataset.value(), split.value()) : Result<bool>(split.error());
  if (!written) {
    std::fprintf(stderr, "cellcam split: %s\n", written.error().message.c_str());
    return 1;
  }
  std::printf("cellcam split: %s: %zu train, %zu val, %zu test%s -> %s\n", s.data.c_str(), split.value().train.size(),
              split.value().val.size(), split.value().test.size(), dataset.value().has_groups ? " (no group in two parts)" : "",
              s.out.c_str());
  return 0;
}

}  // namespace cellcam::data
