// predict.cpp — see predict.h.
//
// predict preprocesses with preprocess(), which is bit-identical to the image store's resize_to_canvas +
// canvas_to_tensor, so its probabilities match eval's. A binary decision is `P(classes[1]) >= threshold`
// (as compute_metrics), a multi-class one the argmax (lowest index on ties).
// Nothing here throws past run_predict: LibTorch's exceptions are caught and reported there.
#include "predict.h"

#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <sstream>
#include <thread>

#include "cellcam/model_spec.h"
#include "cellcam/preprocess.h"
#include "command_output.h"
#include "dataset.h"
#include "decode_any.h"
#include "ensemble.h"
#include "file_io.h"
#include "image_store.h"
#include "metrics.h"
#include "predictions.h"
#include "runtime.h"
#include "trained_model.h"
#include "tta.h"

namespace cellcam::train {
namespace fs = std::filesystem;

namespace {

struct PredictRow {
  std::string error;          // empty: predicted
  std::vector<float> probs;   // one per class
};

// Decodes and preprocesses files[begin, end) on `threads` threads, then runs them through the
// network as one batch. Errors land in the rows; the batch holds only the images that made it.
void predict_chunk(const std::vector<std::string>& files, std::size_t begin, std::size_t end, LoadedRun& r, bool tta, int threads,
                   std::vector<PredictRow>& rows) {
  const PreprocessSpec& spec = r.spec.preprocess;
  const std::size_t n = end - begin;
  std::vector<std::optional<Tensor>> tensors(n);
  std::atomic<std::size_t> next{0};
  auto work = [&] {
    for (std::size_t i = next++; i < n; i = next++) {
      PredictRow& row = rows[begin + i];
      Result<std::vector<std::uint8_t>> bytes = native::read_file(files[begin + i]);
      if (!bytes) { row.error = bytes.error().message; continue; }
      Result<Image> image = native::decode_any(bytes.value().data(), bytes.value().size());
      if (!image) { row.error = image.error().message; continue; }
      Result<Tensor> tensor = preprocess(image.value(), spec);
      if (!tensor) { row.error = tensor.error().message; continue; }
      tensors[i] = tensor.take();
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < std::min<int>(threads, static_cast<int>(n)); ++t) pool.emplace_back(work);
  work();
  for (std::thread& t : pool) t.join();

  Batch batch;
  batch.channels = spec.channels();
  batch.height = spec.height;
  batch.width = spec.width;
  std::vector<std::size_t> members;
  for (std::size_t i = 0; i < n; ++i) {
    if (!tensors[i]) continue;
    batch.images.insert(batch.images.end(), tensors[i]->data.begin(), tensors[i]->data.end());
    members.push_back(begin + i);
  }
  batch.size = static_cast<int>(members.size());
  if (batch.size == 0) return;
  torch::NoGradGuard no_grad;
  const torch::Tensor x = batch_images(batch, r.device);
  const bool binary = r.spec.head == HeadKind::kBinary;
  const torch::Tensor p = (tta ? tta_probabilities(r.net, x, binary, r.temperature) : probabilities(r.net->forward(x), binary, r.temperature)).to(torch::kCPU).contiguous();
  const float* data = p.data_ptr<float>();
  const long c = p.size(1);
  for (std::size_t k = 0; k < members.size(); ++k) rows[members[k]].probs.assign(data + k * c, data + (k + 1) * c);
}

int predict_impl(const PredictSettings& s) {
  const char* cmd = "predict";
  if (s.batch_size < 1) return fail(cmd, make_error(ErrorCode::kInvalidArgument, "--batch-size must be at least 1"));
  if (s.inputs.empty()) return fail(cmd, make_error(ErrorCode::kInvalidArgument, "give image files or folders"));
  if (s.out.empty()) return fail(cmd, make_error(ErrorCode::kInvalidArgument, "--out must name a CSV file"));
  const int threads = native::configure_torch_threads(s.threads);
  // One model, or an ensemble folder (`cellcam ensemble`): its members run one after the other on each
  // chunk and their probabilities combine as model.json says (the page's ensemble.js does the same).
  std::optional<LoadedEnsemble> ensemble;
  std::vector<LoadedRun*> models;
  Result<LoadedRun> loaded = make_error(ErrorCode::kInvalidArgument, "not loaded");
  if (is_ensemble_folder(s.run)) {
    Result<LoadedEnsemble> e = load_ensemble(s.run);
    if (!e) return fail(cmd, e.error());
    ensemble = e.take();
    for (LoadedRun& m : ensemble->members) models.push_back(&m);
  } else {
    loaded = load_run(s.run, s.checkpoint);
    if (!loaded) return fail(cmd, loaded.error());
    models.push_back(&loaded.value());
  }
  const std::vector<std::string> classes = ensemble ? ensemble->classes : models[0]->spec.classes;
  const double threshold = ensemble ? ensemble->threshold : models[0]->threshold;
  const bool binary_head = ensemble ? ensemble->binary : models[0]->spec.head == HeadKind::kBinary;
  if (s.kaggle && classes.size() != 2)
    return fail(cmd, make_error(ErrorCode::kInvalidArgument, "--kaggle writes P(" + classes.back() +
                                                                 ") per image and needs a two-class model; this one has " +
                                                                 std::to_string(classes.size()) + " classes"));

  const std::vector<std::string> files = native::collect_image_files(s.inputs);
  if (files.empty()) return fail(cmd, make_error(ErrorCode::kInvalidArgument, "no image files in " + join(s.inputs)));

  std::vector<PredictRow> rows(files.size());
  const bool terminal = isatty(fileno(stderr)) != 0;
  for (std::size_t begin = 0; begin < files.size(); begin += s.batch_size) {
    const std::size_t end = std::min(files.size(), begin + static_cast<std::size_t>(s.batch_size));
    if (!ensemble) {
      predict_chunk(files, begin, end, *models[0], s.tta, threads, rows);
    } else {
      std::vector<std::vector<PredictRow>> member_rows(models.size(), std::vector<PredictRow>(files.size()));
      for (std::size_t m = 0; m < models.size(); ++m) predict_chunk(files, begin, end, *models[m], s.tta, threads, member_rows[m]);
      for (std::size_t i = begin; i < end; ++i) {
        std::vector<ProbabilityTable> one(models.size());
        for (std::size_t m = 0; m < models.size(); ++m) {
          if (member_rows[m][i].probs.empty()) {
            rows[i].error = member_rows[m][i].error.empty() ? "not predicted" : member_rows[m][i].error;
            break;
          }
          one[m] = {member_rows[m][i].probs};
        }
        if (!rows[i].error.empty()) continue;
        Result<ProbabilityTable> combined =
            ensemble->method == "stacking" ? apply_stacking(ensemble->stacking, one) : soft_vote(one, ensemble->weights);
        if (!combined) rows[i].error = combined.error().message;
        else rows[i].probs = combined.value()[0];
      }
    }
    if (terminal) std::fprintf(stderr, "\rpredicted %zu/%zu", end, files.size());
  }
  if (terminal) std::fputc('\n', stderr);

  std::ostringstream csv;
  if (s.kaggle) {
    csv << "id,label\n";
  } else {
    csv << "file";
    for (const std::string& c : classes) csv << ',' << data::csv_field("p_" + c);
    csv << ",predicted,error\n";
  }
  int failed = 0;
  std::vector<int> per_class(classes.size(), 0);
  std::map<std::string, int> ids;
  for (std::size_t i = 0; i < files.size(); ++i) {
    const PredictRow& row = rows[i];
    if (row.probs.empty()) {
      ++failed;
      const std::string error = row.error.empty() ? "not predicted" : row.error;
      std::fprintf(stderr, "%s: error: %s\n", files[i].c_str(), error.c_str());
      if (!s.kaggle) csv << data::csv_field(files[i]) << std::string(classes.size() + 1, ',') << ',' << data::csv_field(error) << '\n';
      continue;
    }
    const int predicted = predicted_class(row.probs, threshold);
    ++per_class[predicted];
    if (s.kaggle) {
      const std::string id = fs::path(files[i]).stem().string();
      if (ids[id]++ == 1) std::fprintf(stderr, "cellcam predict: warning: id %s occurs more than once\n", id.c_str());
      csv << data::csv_field(id) << ',' << probability_text(row.probs[1]) << '\n';
    } else {
      csv << data::csv_field(files[i]);
      for (float v : row.probs) csv << ',' << probability_text(v);
      csv << ',' << data::csv_field(classes[predicted]) << ",\n";
    }
  }

  std::error_code ec;
  const fs::path parent = fs::path(s.out).parent_path();
  if (!parent.empty()) fs::create_directories(parent, ec);
  if (ec) return fail(cmd, make_error(ErrorCode::kIo, "cannot create " + parent.string() + ": " + ec.message()));
  Result<bool> written = native::write_text_atomically(s.out, csv.str());
  if (!written) return fail(cmd, written.error());

  std::string counts;
  for (std::size_t c = 0; c < classes.size(); ++c)
    counts += (c ? ", " : "") + classes[c] + " " + std::to_string(per_class[c]);
  if (binary_head) counts += "; threshold " + probability_text(threshold);
  std::printf("%zu images: %zu predicted (%s), %d failed; %s: %s\n", files.size(), files.size() - failed, counts.c_str(),
              failed, s.kaggle ? "Kaggle submission" : "predictions", s.out.c_str());
  return failed ? 2 : 0;
}

}  // namespace

int run_predict(const PredictSettings& settings) {
  try {
    return predict_impl(settings);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cellcam predict: internal error: %s\n", e.what());
    return 1;
  }
}

}  // namespace cellcam::train
