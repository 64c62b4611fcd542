// gradcam_images.cpp — see gradcam_images.h.
#include "gradcam_images.h"

#include <torch/torch.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <sstream>
#include <cctype>

#include "cam_layer.h"
#include "cellcam/cam.h"
#include "cellcam/decision.h"
#include "cellcam/ensemble.h"
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

// A file-name-safe, unique output name per input: its stem, with _2, _3 ... on collisions.
std::string output_name(const std::string& file, std::map<std::string, int>& used) {
  std::string stem = fs::path(file).stem().string();
  for (char& ch : stem)
    if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' || ch == '.')) ch = '_';
  const int n = ++used[stem];
  return n == 1 ? stem : stem + "_" + std::to_string(n);
}

struct Item {
  std::string file;
  std::string error;
  Image image;
  TileGrid tiles;             // a large image (tiling.h plan_tiles, the page's plan); empty: whole
  std::vector<float> probs;   // (K): the combined answer (tiles aggregated)
  std::vector<float> maps;    // (K,h,w): raw maps over the canvas, or stitched over the whole image
  int map_width = 0;
  int map_height = 0;
};

// One network of the model (a single model has one; an ensemble one per member) and where its CAM is read.
struct Member {
  train::LoadedRun* run = nullptr;
  CamTarget target;
};

// n stacked inputs (n,C,H,W) through every member, their outputs combined by the shared rules (views are
// already averaged inside compute_cams_tta; members by ensemble.h, maps resampled to the finest grid), as
// the page combines them.
Result<CombinedOutput> explain_inputs(std::vector<Member>& members, const ModelCard& card, std::vector<float>& inputs, int n,
                                      const GradcamSettings& s) {
  const PreprocessSpec& spec = card.preprocess;
  std::vector<MemberOutput> outputs;
  for (Member& m : members) {
    const torch::Tensor x =
        torch::from_blob(inputs.data(), {n, spec.channels(), spec.height, spec.width}, torch::kFloat).to(m.run->device);
    CamMaps maps = s.tta ? compute_cams_tta(m.run->net, x, m.target.layer, m.run->temperature)
                         : compute_cams(m.run->net, x, m.target.layer, m.run->temperature);
    const torch::Tensor p = maps.probs.to(torch::kCPU).contiguous();
    const torch::Tensor c = (s.method == "gradcam" ? maps.gradcam : maps.hirescam).to(torch::kCPU).contiguous();
    MemberOutput out;
    out.probs.assign(p.data_ptr<float>(), p.data_ptr<float>() + p.numel());
    out.cams.assign(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
    out.cam_width = static_cast<int>(c.size(3));
    out.cam_height = static_cast<int>(c.size(2));
    outputs.push_back(std::move(out));
  }
  return combine_outputs(card, outputs, n, /*tta=*/false);
}

// A large image's tiles in batches: their answer aggregated and their maps stitched into one map per class
// over the whole image (tiling.h), as the page does.
Result<bool> explain_tiles(Item& item, std::vector<Member>& members, const ModelCard& card, const GradcamSettings& s) {
  const int K = card.class_count(), T = static_cast<int>(item.tiles.tiles.size());
  std::vector<float> probs, cams;
  int cam_w = 0, cam_h = 0;
  for (int start = 0; start < T; start += s.batch_size) {
    const int n = std::min(T, start + s.batch_size) - start;
    std::vector<float> inputs;
    for (int t = start; t < start + n; ++t) {
      Result<Image> crop = crop_image(item.image, item.tiles.tiles[t]);
      Result<Tensor> tensor = crop ? preprocess(crop.value(), card.preprocess) : Result<Tensor>(crop.error());
      if (!tensor) return tensor.error();
      inputs.insert(inputs.end(), tensor.value().data.begin(), tensor.value().data.end());
    }
    Result<CombinedOutput> out = explain_inputs(members, card, inputs, n, s);
    if (!out) return out.error();
    probs.insert(probs.end(), out.value().probs.begin(), out.value().probs.end());
    cams.insert(cams.end(), out.value().cams.begin(), out.value().cams.end());
    cam_w = out.value().cam_width;
    cam_h = out.value().cam_height;
  }
  item.probs = aggregate_tiles(probs.data(), T, K, card.binary(), card.threshold).probs;
  Result<StitchedMap> stitched =
      stitch_tile_cams(cams.data(), K, cam_w, cam_h, item.tiles, item.image.width, item.image.height, card.preprocess);
  if (!stitched) return stitched.error();
  item.maps = std::move(stitched.value().maps);
  item.map_width = stitched.value().width;
  item.map_height = stitched.value().height;
  return true;
}

// A chunk's whole images in one batch through every member.
void explain_whole(std::vector<Item*>& items, std::vector<Member>& members, const ModelCard& card, const GradcamSettings& s) {
  if (items.empty()) return;
  std::vector<float> inputs;
  for (Item* item : items) {
    Result<Tensor> tensor = preprocess(item->image, card.preprocess);
    if (!tensor) {
      item->error = tensor.error().message;
      continue;
    }
    inputs.insert(inputs.end(), tensor.value().data.begin(), tensor.value().data.end());
  }
  std::vector<Item*> ok;
  for (Item* item : items)
    if (item->error.empty()) ok.push_back(item);
  if (ok.empty()) return;
  Result<CombinedOutput> out = explain_inputs(members, card, inputs, static_cast<int>(ok.size()), s);
  const int K = card.class_count();
  for (std::size_t i = 0; i < ok.size(); ++i) {
    if (!out) {
      ok[i]->error = out.error().message;
      continue;
    }
    const CombinedOutput& c = out.value();
    const std::size_t plane = static_cast<std::size_t>(K) * c.cam_width * c.cam_height;
    ok[i]->probs.assign(c.probs.begin() + i * K, c.probs.begin() + (i + 1) * K);
    ok[i]->maps.assign(c.cams.begin() + i * plane, c.cams.begin() + (i + 1) * plane);
    ok[i]->map_width = c.cam_width;
    ok[i]->map_height = c.cam_height;
  }
}

// The heatmap and overlay PNGs of class c (and, for a tiled image, its stitched map as .npy).
Result<bool> write_class_outputs(const Item& item, int c, const std::string& base, const ModelCard& card, Colormap colormap,
                                 float alpha, CamScale scale) {
  const bool tiled = !item.tiles.tiles.empty();
  const std::size_t plane = static_cast<std::size_t>(item.map_width) * item.map_height;
  const float* raw = item.maps.data() + c * plane;
  // A tiled image's map is the stitched one, over the whole image (the image is its canvas).
  const PreprocessSpec spec = tiled ? stitched_map_spec(item.image.width, item.image.height) : card.preprocess;
  const CamScaling scaling{scale, item.probs[c]};  // absolute: the explained class's probability
  Result<CamRendering> drawn = render_cam(item.image, raw, item.map_width, item.map_height, spec, colormap, alpha, scaling);
  if (!drawn) return drawn.error();
  Result<bool> w = native::write_png(base + ".heatmap.png", drawn.value().heatmap);
  if (w) w = native::write_png(base + ".overlay.png", drawn.value().overlay);
  if (w && tiled) {  // the stitched map itself, scaled once (what the page's heatmap draws)
    Result<std::vector<float>> norm = scale_cam(raw, static_cast<int>(plane), scaling.scale, scaling.probability);
    w = norm ? native::write_npy(base + ".stitched.npy", {item.map_height, item.map_width}, norm.value().data(), plane)
             : Result<bool>(norm.error());
  }
  return w;
}

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const std::string& x : v) out += (out.empty() ? "" : ";") + x;
  return out;
}

int gradcam_impl(const GradcamSettings& s) {
  Result<Colormap> colormap = parse_colormap(s.colormap);
  if (!colormap) return fail(colormap.error());
  Result<CamScale> scale = parse_cam_scale(s.scale);
  if (!scale) return fail(scale.error());
  if (s.method != "gradcam" && s.method != "hirescam")
    return fail(make_error(ErrorCode::kInvalidArgument, "--method must be gradcam or hirescam"));
  if (!(s.alpha >= 0.0f && s.alpha <= 1.0f)) return fail(make_error(ErrorCode::kInvalidArgument, "--alpha must be in [0, 1]"));
  if (s.batch_size < 1) return fail(make_error(ErrorCode::kInvalidArgument, "--batch-size must be at least 1"));
  native::configure_torch_threads(s.threads);
  // One model, or an ensemble folder (`cellcam ensemble`): every member's maps, combined as the page does.
  std::optional<train::LoadedEnsemble> ensemble;
  Result<train::LoadedRun> loaded = make_error(ErrorCode::kInvalidArgument, "not loaded");
  std::vector<train::LoadedRun*> runs;
  if (train::is_ensemble_folder(s.model)) {
    Result<train::LoadedEnsemble> e = train::load_ensemble(s.model);
    if (!e) return fail(e.error());
    ensemble = e.take();
    for (train::LoadedRun& m : ensemble->members) runs.push_back(&m);
  } else {
    loaded = train::load_run(s.model, s.checkpoint);
    if (!loaded) return fail(loaded.error());
    runs.push_back(&loaded.value());
  }
  const ModelCard& card = ensemble ? ensemble->card : runs[0]->card;
  std::vector<Member> members;
  for (train::LoadedRun* r : runs) {
    Result<CamTarget> target = resolve_cam_layer(r->spec, s.cam_layer.empty() || ensemble ? r->cam_layer : s.cam_layer);
    if (!target) return fail(target.error());
    members.push_back({r, target.take()});
  }
  const std::vector<std::string>& class_names = card.classes;
  const int classes = card.class_count();
  int fixed_class = -1;
  if (s.target != "predicted" && s.target != "all") {
    for (int c = 0; c < classes; ++c)
      if (class_names[c] == s.target) fixed_class = c;
    if (fixed_class < 0) {
      std::string names;
      for (const std::string& c : class_names) names += " " + c;
      return fail(make_error(ErrorCode::kInvalidArgument, "--class " + s.target + " is not one of the model's classes:" + names));
    }
  }
  // The page's rules: its decision and its tile plan for large images (model.json, else the run's own).
  const DecisionRule rule = decision_rule(card);
  TileSettings tiles = default_tile_settings(card);
  if (s.tile_above >= 0) tiles.above = s.tile_above;
  const std::vector<std::string> files = native::collect_image_files(s.inputs);
  if (files.empty()) return fail(make_error(ErrorCode::kInvalidArgument, "no image files in the given inputs"));
  std::error_code ec;
  fs::create_directories(s.out, ec);
  if (ec) return fail(make_error(ErrorCode::kIo, "cannot create " + s.out + ": " + ec.message()));

  std::ostringstream csv;
  csv << "file";
  for (const std::string& c : class_names) csv << "," << data::csv_field("p_" + c);
  csv << ",predicted,explained,heatmap,overlay,error\n";
  std::map<std::string, int> used_names;
  int failed = 0, written = 0;
  for (std::size_t begin = 0; begin < files.size(); begin += static_cast<std::size_t>(s.batch_size)) {
    const std::size_t end = std::min(files.size(), begin + static_cast<std::size_t>(s.batch_size));
    std::vector<Item> items(end - begin);
    std::vector<Item*> whole;
    for (std::size_t i = begin; i < end; ++i) {
      Item& item = items[i - begin];
      item.file = files[i];
      Result<std::vector<std::uint8_t>> bytes = native::read_image_file(item.file);
      Result<Image> image = bytes ? native::decode_any(bytes.value().data(), bytes.value().size()) : Result<Image>(bytes.error());
      Result<TileGrid> grid = image ? plan_tiles(image.value().width, image.value().height, tiles) : Result<TileGrid>(image.error());
      if (!grid) {
        item.error = grid.error().message;
        continue;
      }
      item.image = image.take();
      item.tiles = grid.take();
      if (item.tiles.tiles.empty()) {
        whole.push_back(&item);
        continue;
      }
      Result<bool> explained = explain_tiles(item, members, card, s);
      if (!explained) item.error = explained.error().message;
    }
    explain_whole(whole, members, card, s);
    for (Item& item : items) {
      std::vector<std::string> heatmaps, overlays;
      std::string predicted, explained;
      if (item.error.empty()) {
        const int best = decide(item.probs.data(), rule).index;  // as predict and the page decide
        predicted = class_names[best];
        std::vector<int> explain;
        if (s.target == "all")
          for (int c = 0; c < classes; ++c) explain.push_back(c);
        else
          explain.push_back(fixed_class >= 0 ? fixed_class : best);
        const std::string name = output_name(item.file, used_names);
        for (int c : explain) {
          const std::string base = (fs::path(s.out) / (name + "." + class_names[c])).string();
          Result<bool> w = write_class_outputs(item, c, base, card, colormap.value(), s.alpha, scale.value());
          if (!w) {
            item.error = w.error().message;
            break;
          }
          heatmaps.push_back(base + ".heatmap.png");
          overlays.push_back(base + ".overlay.png");
          explained += (explained.empty() ? "" : ";") + class_names[c];
        }
      }
      csv << data::csv_field(item.file);
      for (int c = 0; c < classes; ++c) {
        csv << ",";
        if (!item.probs.empty()) csv << item.probs[c];
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
              members[0].target.layer.c_str(), s.method.c_str(), s.colormap.c_str(), failed, s.out.c_str());
  return failed > 0 ? 2 : 0;
}

}  // namespace

int run_gradcam(const GradcamSettings& settings) {
  try {
    return gradcam_impl(settings);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cellcam gradcam: %s\n", native::first_line(e.what()).c_str());
    return 1;
  }
}

}  // namespace cellcam::explain
