// checkpoint.cpp — see checkpoint.h.
#include "checkpoint.h"

#include <filesystem>
#include <sstream>

#include "file_io.h"
#include "runtime.h"

namespace cellcam::train {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// An archive serialised in memory first: LibTorch's file writer throws from its destructor when the disk
// fills up (std::terminate, not an error), while our own writer reports it and keeps the old file.
std::string archive_bytes(torch::serialize::OutputArchive& archive) {
  std::ostringstream bytes;
  archive.save_to(bytes);
  return bytes.str();
}

// A checkpoint that cannot be read: one line that says which file and what to do, not LibTorch's backtrace.
Error unreadable(const std::string& what, const std::string& path, const std::exception& e) {
  return make_error(ErrorCode::kCorrupt, "cannot read " + what + " " + path + " (" + native::first_line(e.what()) +
                                             "): the file is damaged or was written for another model");
}

}  // namespace

Result<bool> save_checkpoint(const std::string& path, native::Network& net, torch::optim::Optimizer& opt, const json& state,
                             const std::vector<torch::Tensor>* averaged) {
  std::string bytes;
  try {
    torch::serialize::OutputArchive archive;
    net->save(archive);
    torch::serialize::OutputArchive optimizer;
    opt.save(optimizer);
    archive.write("optimizer", optimizer);
    if (averaged && !averaged->empty()) {
      torch::serialize::OutputArchive average;
      for (std::size_t i = 0; i < averaged->size(); ++i) average.write(std::to_string(i), (*averaged)[i], /*is_buffer=*/true);
      archive.write("weight_average", average);
    }
    bytes = archive_bytes(archive);
  } catch (const std::exception& e) {
    return make_error(ErrorCode::kInternal, "cannot serialise checkpoint " + path + ": " + native::first_line(e.what()));
  }
  // The weights and their state replace the previous pair together, or not at all.
  const std::string text = state.dump(2) + "\n";
  return native::write_files_atomically({{path, bytes}, {path + ".json", text}});
}

Result<json> load_checkpoint(const std::string& path, native::Network& net, torch::optim::Optimizer* opt,
                             std::vector<torch::Tensor>* averaged) {
  Result<std::vector<std::uint8_t>> bytes = native::read_file(path);
  if (!bytes) return bytes.error();
  // A damaged archive is the first thing to report, even when its .json is missing too.
  Result<std::string> text = native::read_text(path + ".json");
  Result<json> loaded = load_checkpoint_bytes(std::string(bytes.value().begin(), bytes.value().end()),
                                              text ? text.value() : std::string("{}"), path, net, opt, averaged);
  if (loaded && !text) return text.error();
  return loaded;
}

Result<json> load_checkpoint_bytes(const std::string& bytes, const std::string& state_text, const std::string& path,
                                   native::Network& net, torch::optim::Optimizer* opt, std::vector<torch::Tensor>* averaged) {
  try {
    torch::serialize::InputArchive archive;
    std::istringstream in(bytes);
    archive.load_from(in, torch::kCPU);  // a CUDA-trained checkpoint must load on a CPU-only machine
    net->load(archive);
    if (opt) {
      torch::serialize::InputArchive optimizer;
      archive.read("optimizer", optimizer);
      opt->load(optimizer);
    }
    if (averaged) {
      averaged->clear();
      torch::serialize::InputArchive average;
      if (archive.try_read("weight_average", average)) {
        torch::Tensor t;
        for (std::size_t i = 0; average.try_read(std::to_string(i), t, /*is_buffer=*/true); ++i) averaged->push_back(t.clone());
      }
    }
  } catch (const std::exception& e) {
    return unreadable("checkpoint", path, e);
  }
  json state = json::parse(state_text, nullptr, false);
  if (state.is_discarded()) return make_error(ErrorCode::kCorrupt, path + ".json is not valid JSON");
  return state;
}

Result<InitReport> init_matching_weights(const std::string& path, native::Network& net) {
  InitReport report;
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(path, torch::kCPU);
    torch::NoGradGuard no_grad;
    // Module::save nests one archive per submodule: "features.0.weight" is features -> 0 -> weight.
    auto read_nested = [&](const std::string& name, torch::Tensor& out, bool is_buffer) {
      std::vector<std::string> parts;
      for (std::size_t start = 0, dot; start <= name.size(); start = dot + 1) {
        dot = name.find('.', start);
        if (dot == std::string::npos) dot = name.size();
        parts.push_back(name.substr(start, dot - start));
      }
      std::vector<torch::serialize::InputArchive> chain(parts.size());
      torch::serialize::InputArchive* at = &archive;
      for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
        if (!at->try_read(parts[i], chain[i])) return false;
        at = &chain[i];
      }
      return at->try_read(parts.back(), out, is_buffer);
    };
    auto copy_matching = [&](const std::string& name, torch::Tensor& target, bool is_buffer) {
      ++report.total;
      torch::Tensor source;
      if (!read_nested(name, source, is_buffer) || source.sizes() != target.sizes()) return;
      target.copy_(source);
      ++report.copied;
    };
    for (auto& p : net->named_parameters()) copy_matching(p.key(), p.value(), false);
    for (auto& b : net->named_buffers()) copy_matching(b.key(), b.value(), true);
  } catch (const std::exception& e) {
    return unreadable("--init-from", path, e);
  }
  if (report.copied == 0) return make_error(ErrorCode::kInvalidArgument, path + " has no weights that fit this model");
  return report;
}

Result<bool> load_weights(const std::string& path, native::Network& net) {
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(path, torch::kCPU);  // weights written on a GPU must load on a CPU-only machine
    net->load(archive);
  } catch (const std::exception& e) {
    return unreadable("weights", path, e);
  }
  return true;
}

Result<std::string> serialize_weights(native::Network& net) {
  try {
    torch::serialize::OutputArchive archive;
    net->save(archive);
    return archive_bytes(archive);
  } catch (const std::exception& e) {
    return make_error(ErrorCode::kInternal, "cannot serialise the weights: " + native::first_line(e.what()));
  }
}

Result<bool> save_weights(const std::string& path, native::Network& net) {
  Result<std::string> bytes = serialize_weights(net);
  if (!bytes) return bytes.error();
  return native::write_bytes_atomically(path, bytes.value().data(), bytes.value().size());
}

}  // namespace cellcam::train
