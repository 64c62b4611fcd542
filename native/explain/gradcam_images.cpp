// gradcam_images.cpp — see gradcam_images.h.
#include "gradcam_images.h"

#include <torch/torch.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <sstream>
#include <cctype>

#include "cam_layer.h"
#include "cellcam/cam.h"
#include "cellcam/decision.h"
#include "cellcam/tiling.h"
#include "cellcam/preprocess.h"
#include "dataset.h"
#include "decode_any.h"
#include "file_io.h"
#include "npy_writer.h"
#include "gradcam.h"
#include "metrics.h"
#include "png_writer.h"
#include "runtime.h"
#include "trained_model.h"

namespace cellcam::explain {
namespace fs = std::filesystem;

namespace {

int fail(const Error& e) {
  std::fprintf(stderr, "cellcam gradcam: %s\n", e.message.c_str());
  return 1;
}

struct Item {
  std::string file;
  std::string error;
  Image image;
  Tensor tensor;
  // A large image (tiling.h plan_tiles, the page's plan): its tiles' answer and the stitched raw maps.
  TileGrid tiles;
  std::vector<float> probs;  // (K), tiled images only
  StitchedMap stitched;      // (K,h,w) over the whole image
};

// The tiles of a large image through the network in batches: their probabilities aggregated and their
// maps stitched into one map per class over the whole image, as the page does (shared tiling.h).
Result<bool> explain_tiles(Item& item, train::LoadedRun& r, const CamTarget& target, const GradcamSettings& s) {
  const PreprocessSpec& spec = r.spec.preprocess;
  const int K = static_cast<int>(r.spec.classes.size()), T = static_cast<int>(item.tiles.tiles.size());
  std::vector<float> probs, cams;
  for (int start = 0; start < T; start += s.batch_size) {
    std::vector<Tensor> tensors;
    std::vector<torch::Tensor> batch;
    for (int t = start; t < std::min(T, start + s.batch_size); ++t) {
      Result<Image> crop = crop_image(item.image, item.tiles.tiles[t]);
      Result<Tensor> tensor = crop ? preprocess(crop.value(), spec) : Result<Tensor>(crop.error());
      if (!tensor) return tensor.error();
      tensors.push_back(tensor.take());
    }
    for (Tensor& t : tensors) batch.push_back(torch::from_blob(t.data.data(), {t.channels, t.height, t.width}, torch::kFloat));
    const torch::Tensor x = torch::stack(batch).to(r.device);
    CamMaps maps = s.tta ? compute_cams_tta(r.net, x, target.layer, r.temperature) : compute_cams(r.net, x, target.layer, r.temperature);
    const torch::Tensor p = maps.probs.to(torch::kCPU).contiguous();
    const torch::Tensor c = (s.method == "gradcam" ? maps.gradcam : maps.hirescam).to(torch::kCPU).contiguous();
    probs.insert(probs.end(), p.data_ptr<float>(), p.data_ptr<float>() + p.numel());
    cams.insert(cams.end(), c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
  }
  item.probs = aggregate_tiles(probs.data(), T, K, r.card.binary(), r.card.threshold).probs;
  Result<StitchedMap> stitched = stitch_tile_cams(cams.data(), K, target.width, target.height, item.tiles, item.image.width,
                                                  item.image.height, spec);
  if (!stitched) return stitched.error();
  item.stitched = stitched.take();
  return true;
}

// A file-name-safe, unique output name per input: its stem, with _2, _3 ... on collisions.
std::string output_name(const std::string& file, std::map<std::string, int>& used) {
  std::string stem = fs::path(file).stem().string();
  for (char& ch : stem)
    if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' || ch == '.')) ch = '_';
  const int n = ++used[stem];
  return n == 1 ? stem : stem + "_" + std::to_string(n);
}

int gradcam_impl(const GradcamSettings& s) {
  Result<Colormap> colormap = parse_colormap(s.colormap);
  if (!colormap) return fail(colormap.error());
  if (s.method != "gradcam" && s.method != "hirescam")
    return fail(make_error(ErrorCode::kInvalidArgument, "--method must be gradcam or hirescam"));
  if (!(s.alpha >= 0.0f && s.alpha <= 1.0f)) return fail(make_error(ErrorCode::kInvalidArgument, "--alpha must be in [0, 1]"));
  if (s.batch_size < 1) return fail(make_error(ErrorCode::kInvalidArgument, "--batch-size must be at least 1"));
  native::configure_torch_threads(s.threads);
  Result<train::LoadedRun> loaded = train::load_run(s.model, s.checkpoint);
  if (!loaded) return fail(loaded.error());
  train::LoadedRun& r = loaded.value();
  const ModelSpec& spec = r.spec;
  const int classes = static_cast<int>(spec.classes.size());
  Result<CamTarget> target = resolve_cam_layer(spec, s.cam_layer.empty() ? r.cam_layer : s.cam_layer);
  if (!target) return fail(target.error());
  int fixed_class = -1;
  if (s.target != "predicted" && s.target != "all") {
    for (int c = 0; c < classes; ++c)
      if (spec.classes[c] == s.target) fixed_class = c;
    if (fixed_class < 0) {
      std::string names;
      for (const std::string& c : spec.classes) names += " " + c;
      return fail(make_error(ErrorCode::kInvalidArgument, "--class " + s.target + " is not one of the model's classes:" + names));
    }
  }
  // The page's rules: its decision and its tile plan for large images (model.json, else the run's own).
  const DecisionRule rule = decision_rule(r.card);
  TileSettings tiles = default_tile_settings(r.card);
  if (s.tile_above >= 0) tiles.above = s.tile_above;
  const std::vector<std::string> files = native::collect_image_files(s.inputs);
  if (files.empty()) return fail(make_error(ErrorCode::kInvalidArgument, "no image files in the given inputs"));
  std::error_code ec;
  fs::create_directories(s.out, ec);
  if (ec) return fail(make_error(ErrorCode::kIo, "cannot create " + s.out + ": " + ec.message()));

  std::ostringstream csv;
  csv << "file";
  for (const std::string& c : spec.classes) csv << "," << data::csv_field("p_" + c);
  csv << ",predicted,explained,heatmap,overlay,error\n";
  std::map<std::string, int> used_names;
  int failed = 0, written = 0;
  for (std::size_t begin = 0; begin < files.size(); begin += static_cast<std::size_t>(s.batch_size)) {
    const std::size_t end = std::min(files.size(), begin + static_cast<std::size_t>(s.batch_size));
    std::vector<Item> items(end - begin);
    std::vector<torch::Tensor> batch;
    std::vector<std::size_t> ok;
    for (std::size_t i = begin; i < end; ++i) {
      Item& item = items[i - begin];
      item.file = files[i];
      Result<std::vector<std::uint8_t>> bytes = native::read_file(item.file);
      Result<Image> image = bytes ? native::decode_any(bytes.value().data(), bytes.value().size()) : Result<Image>(bytes.error());
      Result<TileGrid> grid = image ? plan_tiles(image.value().width, image.value().height, tiles) : Result<TileGrid>(image.error());
      if (grid && !grid.value().tiles.empty()) {
        item.image = image.take();
        item.tiles = grid.take();
        Result<bool> explained = explain_tiles(item, r, target.value(), s);
        if (!explained) item.error = explained.error().message;
        continue;
      }
      Result<Tensor> tensor = grid ? preprocess(image.value(), spec.preprocess) : Result<Tensor>(grid.error());
      if (!tensor) {
        item.error = tensor.error().message;
        continue;
      }
      item.image = image.take();
      item.tensor = tensor.take();
      batch.push_back(torch::from_blob(item.tensor.data.data(), {item.tensor.channels, item.tensor.height, item.tensor.width}, torch::kFloat));
      ok.push_back(i - begin);
    }
    CamMaps maps;
    if (!batch.empty()) {
      maps = s.tta ? compute_cams_tta(r.net, torch::stack(batch).to(r.device), target.value().layer, r.temperature)
                   : compute_cams(r.net, torch::stack(batch).to(r.device), target.value().layer, r.temperature);
      maps.probs = maps.probs.to(torch::kCPU).contiguous();
      maps.gradcam = maps.gradcam.to(torch::kCPU).contiguous();
      maps.hirescam = maps.hirescam.to(torch::kCPU).contiguous();
    }
    const torch::Tensor& chosen = s.method == "gradcam" ? maps.gradcam : maps.hirescam;  // (N,C,h,w)
    std::size_t row = 0;
    for (Item& item : items) {
      std::vector<float> probs;
      std::vector<std::string> heatmaps, overlays;
      std::string predicted, explained;
      const bool tiled = !item.tiles.tiles.empty();
      if (item.error.empty()) {
        const std::size_t n = tiled ? 0 : row++;
        if (tiled) probs = item.probs;
        else probs.assign(maps.probs[n].data_ptr<float>(), maps.probs[n].data_ptr<float>() + classes);
        const int best = decide(probs.data(), rule).index;  // as predict and the page decide
        predicted = spec.classes[best];
        std::vector<int> explain;
        if (s.target == "all")
          for (int c = 0; c < classes; ++c) explain.push_back(c);
        else
          explain.push_back(fixed_class >= 0 ? fixed_class : best);
        const std::string name = output_name(item.file, used_names);
        const CamTarget& t = target.value();
        for (int c : explain) {
          // A tiled image's map is the stitched one, over the whole image (its own canvas).
          const StitchedMap& st = item.stitched;
          const std::size_t plane = static_cast<std::size_t>(st.width) * st.height;
          const torch::Tensor map = tiled ? torch::Tensor() : chosen[n][c].contiguous();
          const float* raw = tiled ? st.maps.data() + c * plane : map.data_ptr<float>();
          Result<CamRendering> drawn =
              tiled ? render_cam(item.image, raw, st.width, st.height, stitched_map_spec(item.image.width, item.image.height),
                                 colormap.value(), s.alpha)
                    : render_cam(item.image, raw, t.width, t.height, spec.preprocess, colormap.value(), s.alpha);
          if (!drawn) {
            item.error = drawn.error().message;
            break;
          }
          const std::string base = (fs::path(s.out) / (name + "." + spec.classes[c])).string();
          Result<bool> w = native::write_png(base + ".heatmap.png", drawn.value().heatmap);
          if (w) w = native::write_png(base + ".overlay.png", drawn.value().overlay);
          if (w && tiled) {  // the stitched map itself, normalised once (what the page's heatmap draws)
            Result<std::vector<float>> norm = normalize_cam(raw, static_cast<int>(plane));
            w = norm ? native::write_npy(base + ".stitched.npy", {st.height, st.width}, norm.value().data(), plane)
                     : Result<bool>(norm.error());
          }
          if (!w) {
            item.error = w.error().message;
            break;
          }
          heatmaps.push_back(base + ".heatmap.png");
          overlays.push_back(base + ".overlay.png");
          explained += (explained.empty() ? "" : ";") + spec.classes[c];
        }
      }
      auto joined = [](const std::vector<std::string>& v) {
        std::string out;
        for (const std::string& x : v) out += (out.empty() ? "" : ";") + x;
        return out;
      };
      csv << data::csv_field(item.file);
      for (int c = 0; c < classes; ++c) {
        csv << ",";
        if (!probs.empty()) csv << probs[c];
      }
      csv << "," << data::csv_field(predicted) << "," << data::csv_field(explained) << "," << data::csv_field(joined(heatmaps)) << ","
          << data::csv_field(joined(overlays)) << "," << data::csv_field(item.error) << "\n";
      if (item.error.empty()) ++written;
      else {
        ++failed;
        std::fprintf(stderr, "cellcam gradcam: %s: %s\n", item.file.c_str(), item.error.c_str());
      }
    }
  }
  Result<bool> w = native::write_text_atomically((fs::path(s.out) / "gradcam.csv").string(), csv.str());
  if (!w) return fail(w.error());
  std::printf("cellcam gradcam: %d image(s) explained at %s (%s, %s), %d failed; see %s/gradcam.csv\n", written,
              target.value().layer.c_str(), s.method.c_str(), s.colormap.c_str(), failed, s.out.c_str());
  return failed > 0 ? 2 : 0;
}

}  // namespace

int run_gradcam(const GradcamSettings& settings) {
  try {
    return gradcam_impl(settings);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cellcam gradcam: %s\n", e.what());
    return 1;
  }
}

}  // namespace cellcam::explain
