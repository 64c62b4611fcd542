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

#include "cellcam/csv.h"  // csv_cell: the page's CSV rule (formula neutralisation + RFC 4180)
#include "cellcam/decision.h"
#include "cellcam/ensemble.h"
#include "cellcam/model_card.h"
#include "cellcam/model_spec.h"
#include "cellcam/ood.h"
#include "cellcam/preprocess.h"
#include "cellcam/tiling.h"
#include "cellcam/views.h"
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
  int predicted = 0;          // decide(): the class and the review flag, decided once
  bool review = false;
  int tiles = 0;              // 0: classified whole
  double ood_score = kNoOodScore;  // the out-of-distribution score (cellcam/ood.h), when the model has one
  bool ood = false;           // decide(): not the kind of image this model was trained on
};

// One file after decoding: its whole-image tensor, or its tiles' (tiling.h plan_tiles, as the page cuts them).
struct PreparedImage {
  std::vector<float> tensors;  // (units,C,H,W)
  int units = 0;
  TileGrid grid;               // empty: whole
};

// Decodes, plans and preprocesses files[begin, end) on `threads` threads. Errors land in the rows.
std::vector<std::optional<PreparedImage>> prepare_chunk(const std::vector<std::string>& files, std::size_t begin, std::size_t end,
                                                        const ModelCard& card, const TileSettings& tiles, int threads,
                                                        std::vector<PredictRow>& rows) {
  const std::size_t n = end - begin;
  std::vector<std::optional<PreparedImage>> out(n);
  std::atomic<std::size_t> next{0};
  auto work = [&] {
    for (std::size_t i = next++; i < n; i = next++) {
      PredictRow& row = rows[begin + i];
      Result<std::vector<std::uint8_t>> bytes = native::read_image_file(files[begin + i]);
      if (!bytes) { row.error = bytes.error().message; continue; }
      Result<Image> image = native::decode_any(bytes.value().data(), bytes.value().size());
      if (!image) { row.error = image.error().message; continue; }
      Result<TileGrid> grid = plan_tiles(image.value().width, image.value().height, tiles);
      if (!grid) { row.error = grid.error().message; continue; }
      PreparedImage p;
      p.grid = grid.take();
      std::vector<Image> parts;
      if (p.grid.tiles.empty()) parts.push_back(image.take());
      for (const Rect& r : p.grid.tiles) {
        Result<Image> crop = crop_image(image.value(), r);
        if (!crop) { row.error = crop.error().message; break; }
        parts.push_back(crop.take());
      }
      if (!row.error.empty()) continue;
      for (const Image& part : parts) {
        Result<Tensor> tensor = preprocess(part, card.preprocess);
        if (!tensor) { row.error = tensor.error().message; break; }
        p.tensors.insert(p.tensors.end(), tensor.value().data.begin(), tensor.value().data.end());
        ++p.units;
      }
      if (row.error.empty()) out[i] = std::move(p);
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < std::min<int>(threads, static_cast<int>(n)); ++t) pool.emplace_back(work);
  work();
  for (std::thread& t : pool) t.join();
  return out;
}

// One member network on `units` stacked inputs (with their TTA views when tta): probabilities (units*V,K)
// and, when the member's card has an "ood" block, its out-of-distribution score (units*V) from the
// features the graph scores (cellcam/ood.h, with the statistics read from its model.onnx), in batches of
// at most batch_size inputs.
MemberOutput run_member(LoadedRun& r, const std::vector<float>& inputs, int units, const ModelCard& card, bool tta,
                        int batch_size) {
  const PreprocessSpec& spec = card.preprocess;
  const std::size_t size = static_cast<std::size_t>(spec.channels()) * spec.height * spec.width;
  const std::vector<float> x = tta ? make_views(inputs.data(), units, spec.channels(), spec.height, spec.width) : inputs;
  const long total = static_cast<long>(x.size() / size);
  const bool binary = card.binary();
  const bool ood = r.card.ood.present && r.ood.features > 0;
  MemberOutput out;
  torch::NoGradGuard no_grad;
  for (long start = 0; start < total; start += batch_size) {
    const long count = std::min<long>(batch_size, total - start);
    torch::Tensor t = torch::from_blob(const_cast<float*>(x.data()) + start * size, {count, spec.channels(), spec.height, spec.width},
                                       torch::kFloat32).to(r.device);
    torch::Tensor logits;
    if (ood) {
      auto [z, features] = r.net->forward_with_activation(t, r.card.ood.layer);
      logits = z;
      const torch::Tensor f = features.reshape({count, -1}).to(torch::kCPU, torch::kFloat).contiguous();
      if (f.size(1) != r.ood.features)
        throw std::runtime_error(r.card.ood.layer + " gives " + std::to_string(f.size(1)) + " features, the statistics " +
                                 std::to_string(r.ood.features));
      for (long i = 0; i < count; ++i)
        out.ood.push_back(static_cast<float>(mahalanobis_score(f.data_ptr<float>() + i * f.size(1), r.ood)));
    } else {
      logits = r.net->forward(t);
    }
    const torch::Tensor p = probabilities(logits, binary, r.temperature).to(torch::kCPU).contiguous();
    out.probs.insert(out.probs.end(), p.data_ptr<float>(), p.data_ptr<float>() + p.numel());
  }
  return out;
}

// A chunk's images through every member, combined and decided as the page does (shared combine_outputs,
// aggregate_tiles, decide).
void predict_chunk(std::vector<std::optional<PreparedImage>>& prepared, std::size_t begin, std::vector<LoadedRun*>& models,
                   const ModelCard& card, const DecisionRule& rule, bool tta, int batch_size, std::vector<PredictRow>& rows) {
  std::vector<float> inputs;
  int units = 0;
  for (const std::optional<PreparedImage>& p : prepared) {
    if (!p) continue;
    inputs.insert(inputs.end(), p->tensors.begin(), p->tensors.end());
    units += p->units;
  }
  if (units == 0) return;
  std::vector<MemberOutput> outputs(models.size());
  for (std::size_t m = 0; m < models.size(); ++m) outputs[m] = run_member(*models[m], inputs, units, card, tta, batch_size);
  Result<CombinedOutput> combined = combine_outputs(card, outputs, units, tta);
  const int K = card.class_count();
  int unit = 0;
  for (std::size_t i = 0; i < prepared.size(); ++i) {
    if (!prepared[i]) continue;
    PredictRow& row = rows[begin + i];
    const PreparedImage& p = *prepared[i];
    const int first = unit;
    unit += p.units;
    if (!combined) { row.error = combined.error().message; continue; }
    const float* probs = combined.value().probs.data() + static_cast<std::size_t>(first) * K;
    double disagreement = -1.0;
    const std::vector<double>& ood = combined.value().ood;
    if (p.grid.tiles.empty()) {
      row.probs.assign(probs, probs + K);
      if (!combined.value().disagreement.empty()) disagreement = combined.value().disagreement[first];
      if (!ood.empty()) row.ood_score = ood[first];
    } else {
      const TileAggregate a = aggregate_tiles(probs, p.units, K, card.binary(), card.threshold);
      row.probs = a.probs;
      row.tiles = p.units;
      if (!ood.empty()) row.ood_score = aggregate_tile_ood(ood.data() + first, p.units, card.binary(), a);
    }
    const Decision d = decide(row.probs.data(), rule, disagreement, row.ood_score);
    row.predicted = d.index;
    row.review = d.review;
    row.ood = d.ood;
  }
}

// An out-of-distribution score as the CSV writes it (6 significant digits; the page's export likewise).
std::string ood_text(double v) {
  if (v < 0) return "";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

int predict_impl(const PredictSettings& s) {
  const char* cmd = "predict";
  if (s.batch_size < 1) return fail(cmd, make_error(ErrorCode::kInvalidArgument, "--batch-size must be at least 1"));
  if (s.inputs.empty()) return fail(cmd, make_error(ErrorCode::kInvalidArgument, "give image files or folders"));
  if (s.out.empty()) return fail(cmd, make_error(ErrorCode::kInvalidArgument, "--out must name a CSV file"));
  const int threads = native::configure_torch_threads(s.threads);
  // One model, or an ensemble folder (`cellcam ensemble`): its members run one after the other on each
  // chunk and their outputs combine as its model.json says, through the page's own rules.
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
  // What the folder means to the page (its model.json through the shared model card; a run folder's own).
  const ModelCard& card = ensemble ? ensemble->card : models[0]->card;
  const DecisionRule rule = decision_rule(card);
  const std::vector<std::string>& classes = card.classes;
  if (s.kaggle && classes.size() != 2)
    return fail(cmd, make_error(ErrorCode::kInvalidArgument, "--kaggle writes P(" + classes.back() +
                                                                 ") per image and needs a two-class model; this one has " +
                                                                 std::to_string(classes.size()) + " classes"));
  // The page's tile plan: the card's defaults, overridden by --tile/--stride/--tile-above/--max-tiles.
  TileSettings tiles = default_tile_settings(card);
  if (s.tile > 0) tiles.tile = s.tile;
  if (s.stride > 0) tiles.stride = s.stride;
  else if (s.tile > 0) tiles.stride = s.tile;
  if (s.tile_above >= 0) tiles.above = s.tile_above;
  if (s.max_tiles > 0) tiles.max_tiles = s.max_tiles;

  const std::vector<std::string> files = native::collect_image_files(s.inputs);
  if (files.empty()) return fail(cmd, make_error(ErrorCode::kInvalidArgument, "no image files in " + join(s.inputs)));

  std::vector<PredictRow> rows(files.size());
  const bool terminal = isatty(fileno(stderr)) != 0;
  for (std::size_t begin = 0; begin < files.size(); begin += s.batch_size) {
    const std::size_t end = std::min(files.size(), begin + static_cast<std::size_t>(s.batch_size));
    std::vector<std::optional<PreparedImage>> prepared = prepare_chunk(files, begin, end, card, tiles, threads, rows);
    predict_chunk(prepared, begin, models, card, rule, s.tta, s.batch_size, rows);
    if (terminal) std::fprintf(stderr, "\rpredicted %zu/%zu", end, files.size());
  }
  if (terminal) std::fputc('\n', stderr);

  std::ostringstream csv;
  if (s.kaggle) {
    csv << "id,label\n";
  } else {
    csv << "file";
    for (const std::string& c : classes) csv << ',' << cellcam::csv_cell("p_" + c);
    csv << ",predicted,review,error,tiles";
    if (card.ood.present) csv << ",ood_score,ood";
    csv << '\n';
  }
  int failed = 0, referred = 0, unfamiliar = 0;
  std::vector<int> per_class(classes.size(), 0);
  std::map<std::string, int> ids;
  for (std::size_t i = 0; i < files.size(); ++i) {
    const PredictRow& row = rows[i];
    if (row.probs.empty()) {
      ++failed;
      const std::string error = row.error.empty() ? "not predicted" : row.error;
      std::fprintf(stderr, "%s: error: %s\n", files[i].c_str(), error.c_str());
      if (!s.kaggle)
        csv << cellcam::csv_cell(files[i]) << std::string(classes.size() + 2, ',') << ',' << cellcam::csv_cell(error) << ','
            << (card.ood.present ? ",," : "") << '\n';
      continue;
    }
    const int predicted = row.predicted;
    ++per_class[predicted];
    referred += row.review ? 1 : 0;
    unfamiliar += row.ood ? 1 : 0;
    if (s.kaggle) {
      const std::string id = fs::path(files[i]).stem().string();
      if (ids[id]++ == 1) std::fprintf(stderr, "cellcam predict: warning: id %s occurs more than once\n", id.c_str());
      csv << cellcam::csv_cell(id) << ',' << probability_text(row.probs[1]) << '\n';
    } else {
      csv << cellcam::csv_cell(files[i]);
      for (float v : row.probs) csv << ',' << probability_text(v);
      csv << ',' << cellcam::csv_cell(classes[predicted]) << ',' << (row.review ? "true" : "false") << ",," << row.tiles;
      if (card.ood.present) csv << ',' << ood_text(row.ood_score) << ',' << (row.ood ? "true" : "false");
      csv << '\n';
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
  if (card.binary()) counts += "; threshold " + probability_text(card.threshold);
  const std::string ood_count = card.ood.present ? ", " + std::to_string(unfamiliar) + " not the kind of image the model was trained on" : "";
  std::printf("%zu images: %zu predicted (%s), %d to review%s, %d failed; %s: %s\n", files.size(), files.size() - failed,
              counts.c_str(), referred, ood_count.c_str(), failed, s.kaggle ? "Kaggle submission" : "predictions", s.out.c_str());
  return failed ? 2 : 0;
}

}  // namespace

int run_predict(const PredictSettings& settings) {
  try {
    return predict_impl(settings);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cellcam predict: internal error: %s\n", native::first_line(e.what()).c_str());
    return 1;
  }
}

}  // namespace cellcam::train
