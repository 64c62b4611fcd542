// scored_data.cpp — see scored_data.h.
#include "scored_data.h"

#include <algorithm>
#include <filesystem>

#include "split.h"

namespace cellcam::train {
namespace fs = std::filesystem;

namespace {
std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}
}  // namespace

Result<ScoredData> scored_data(const LoadedRun& r, const std::string& run, const std::string& data, const std::string& part,
                               const std::string& split) {
  const std::vector<std::string>& classes = r.spec.classes;
  ScoredData out;
  out.own_split = data.empty() || !split.empty();
  out.path = data.empty() ? r.settings.value("data", std::string()) : data;
  if (out.path.empty())
    return make_error(ErrorCode::kInvalidArgument, run + (r.exported ? " is an exported model folder, which keeps no data split" : "/config.json names no data") + "; pass --data");
  Result<data::Dataset> dataset = data::load_dataset(out.path);
  // The run's own data path is as `cellcam train` was given it: relative paths are relative to where it ran.
  if (!dataset)
    return make_error(dataset.error().code, (out.own_split ? "the run's data " : "") + out.path + ": " + dataset.error().message);
  out.dataset = dataset.take();
  // The same classes in another order (a run trained with --positive-class moves the class of interest
  // to index 1; folders list classes by name): relabel into the model's order.
  if (out.dataset.classes != classes &&
      std::is_permutation(classes.begin(), classes.end(), out.dataset.classes.begin(), out.dataset.classes.end())) {
    std::vector<int> to_model(classes.size());
    for (std::size_t i = 0; i < classes.size(); ++i)
      to_model[i] = static_cast<int>(std::find(classes.begin(), classes.end(), out.dataset.classes[i]) - classes.begin());
    for (data::Sample& sample : out.dataset.samples) sample.label = to_model[static_cast<std::size_t>(sample.label)];
    out.dataset.classes = classes;
  }
  if (out.dataset.classes != classes)
    return make_error(ErrorCode::kInvalidArgument, "the classes of " + out.path + " (" + join(out.dataset.classes) +
                                                       ") differ from the model's (" + join(classes) + ")");
  if (out.own_split) {
    out.split_path = split.empty() ? (fs::path(run) / "split.csv").string() : split;
    Result<data::Split> parts = data::read_split_csv(out.split_path, out.dataset);
    if (!parts) return make_error(parts.error().code, out.split_path + ": " + parts.error().message);
    out.samples = part == "val" ? parts.value().val : part == "train" ? parts.value().train : parts.value().test;
    if (out.samples.empty())
      return make_error(ErrorCode::kInvalidArgument, out.split_path + ": the " + part + " part is empty (trained with --" + part + "-fraction 0?)" +
                                                         (part == "test" ? "; pass --data" : ""));
  } else {
    for (int i = 0; i < static_cast<int>(out.dataset.samples.size()); ++i) out.samples.push_back(i);
    if (out.samples.empty()) return make_error(ErrorCode::kInvalidArgument, out.path + " holds no labelled images");
  }
  return out;
}

}  // namespace cellcam::train
