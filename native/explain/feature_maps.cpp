// feature_maps.cpp — see feature_maps.h. Loading and the forward pass here (LibTorch); the pictures are
// features_grid.h's pure functions, the PNGs native/io/png_writer. (Not named features.h/.cpp: on this
// module's include path that name would shadow glibc's <features.h>.)
#include "feature_maps.h"

#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iomanip>
#include <sstream>

#include "cellcam/cam.h"
#include "cellcam/preprocess.h"
#include "decode_any.h"
#include "features_grid.h"
#include "file_io.h"
#include "png_writer.h"
#include "runtime.h"
#include "trained_model.h"

namespace cellcam::explain {
namespace fs = std::filesystem;

namespace {

int fail(const Error& e) {
  std::fprintf(stderr, "cellcam features: %s\n", e.message.c_str());
  return 1;
}

// ---- which layers

struct LayerRow {
  std::string name;
  std::string kind;
  std::vector<int> shape;
  int index = -1;        // N of "features.N"; -1 for a layer nested in a block
  bool showable = false; // top level with a (C,H,W) output
  bool by_default = false;
};

bool ends_a_block(LayerKind k) { return k == LayerKind::kRelu || k == LayerKind::kLeakyRelu || k == LayerKind::kResidual; }

Result<std::vector<LayerRow>> layer_table(const ModelSpec& spec) {
  Result<std::vector<LayerShape>> shapes = infer_shapes(spec);
  if (!shapes) return shapes.error();
  std::vector<LayerRow> rows;
  const std::string prefix = "features.";
  for (const LayerShape& s : shapes.value()) {
    LayerRow r;
    r.name = s.name;
    r.kind = layer_kind_name(s.kind);
    r.shape = s.shape;
    const bool top = s.name.rfind(prefix, 0) == 0 && s.name.find('.', prefix.size()) == std::string::npos;
    if (top) r.index = std::stoi(s.name.substr(prefix.size()));
    r.showable = top && s.shape.size() == 3;
    r.by_default = r.showable && ends_a_block(s.kind);
    rows.push_back(r);
  }
  return rows;
}

std::string shape_text(const std::vector<int>& shape) {
  std::string t = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) t += (i ? "," : "") + std::to_string(shape[i]);
  return t + ")";
}

void print_table(const std::vector<LayerRow>& rows) {
  std::printf("%-22s %-16s %-14s %s\n", "layer", "kind", "shape", "shown");
  for (const LayerRow& r : rows)
    std::printf("%-22s %-16s %-14s %s\n", r.name.c_str(), r.kind.c_str(), shape_text(r.shape).c_str(),
                r.by_default ? "yes (default)" : r.showable ? "yes" : r.index < 0 ? "no (inside a block)" : "no (not (C,H,W))");
}

// The rows to draw, in network order: the requested ones, or the default list.
Result<std::vector<LayerRow>> choose_layers(const std::vector<LayerRow>& rows, const std::vector<std::string>& requested) {
  std::vector<LayerRow> chosen;
  std::string valid;
  for (const LayerRow& r : rows)
    if (r.showable) valid += (valid.empty() ? "" : ", ") + r.name;
  for (const std::string& name : requested) {
    bool found = false;
    for (const LayerRow& r : rows) found = found || (r.showable && r.name == name);
    if (!found) return make_error(ErrorCode::kInvalidArgument, "--layers: " + name + " is not a top-level layer with a (C,H,W) output; choose from: " + valid);
  }
  for (const LayerRow& r : rows) {
    bool asked = false;
    for (const std::string& name : requested) asked = asked || name == r.name;
    if (requested.empty() ? r.by_default : asked) chosen.push_back(r);
  }
  if (chosen.empty()) return make_error(ErrorCode::kInvalidArgument, "the model has no layer to show; choose from: " + valid);
  return chosen;
}

// ---- the forward pass

struct Forward {
  std::vector<float> probs;                  // (K)
  std::vector<torch::Tensor> activations;    // per chosen layer, (C,h,w) on the CPU
};

// x (1,C,H,W) through the feature layers once, keeping the chosen layers' outputs, then the head.
Forward forward_capturing(train::LoadedRun& run, const torch::Tensor& x, const std::vector<LayerRow>& chosen) {
  torch::NoGradGuard no_grad;
  auto features = run.net->named_children()["features"]->as<torch::nn::Sequential>();
  torch::Tensor h = x;
  Forward f;
  f.activations.resize(chosen.size());
  int i = 0;
  for (auto& module : *features) {
    h = module.forward(h);
    for (std::size_t c = 0; c < chosen.size(); ++c)
      if (chosen[c].index == i) f.activations[c] = h[0].to(torch::kCPU).contiguous();
    ++i;
  }
  const torch::Tensor logits = run.net->named_children()["head"]->as<torch::nn::Linear>()->forward(h) / run.temperature;
  const torch::Tensor p = run.spec.head == HeadKind::kBinary ? torch::cat({1 - torch::sigmoid(logits), torch::sigmoid(logits)}, 1)
                                                             : torch::softmax(logits, 1);
  const torch::Tensor pc = p[0].to(torch::kCPU).contiguous();
  f.probs.assign(pc.data_ptr<float>(), pc.data_ptr<float>() + pc.numel());
  return f;
}

// The first convolution's weights (out,in,kh,kw) on the CPU, or an undefined tensor.
torch::Tensor first_conv_weights(train::LoadedRun& run) {
  for (const std::shared_ptr<torch::nn::Module>& m : run.net->modules(/*include_self=*/false))
    if (auto* conv = dynamic_cast<torch::nn::Conv2dImpl*>(m.get())) return conv->weight.detach().to(torch::kCPU).contiguous();
  return {};
}

// ---- pictures

// Nearest-neighbour enlargement of an RGBA preview by `scale`.
Rgba8 enlarged(const Rgba8& in, int scale) {
  Rgba8 out{in.width * scale, in.height * scale, {}};
  out.pixels.resize(static_cast<std::size_t>(out.width) * out.height * 4);
  for (int y = 0; y < out.height; ++y)
    for (int x = 0; x < out.width; ++x)
      for (int c = 0; c < 4; ++c)
        out.pixels[(static_cast<std::size_t>(y) * out.width + x) * 4 + c] =
            in.pixels[(static_cast<std::size_t>(y / scale) * in.width + x / scale) * 4 + c];
  return out;
}

struct LayerPicture {
  LayerRow row;
  LayerStats stats;
  ColourScale scale;
  int shown = 0;
  std::string file;
};

Result<LayerPicture> write_layer(const LayerRow& row, const torch::Tensor& a, const FeaturesSettings& s, Colormap cmap) {
  LayerPicture pic;
  pic.row = row;
  const int C = static_cast<int>(a.size(0)), h = static_cast<int>(a.size(1)), w = static_cast<int>(a.size(2));  // (C,h,w)
  pic.stats = layer_stats(a.data_ptr<float>(), C, h, w);
  pic.scale = layer_scale(pic.stats);
  pic.shown = std::min(C, s.max_channels);
  Result<FloatGrid> grid = activation_grid(a.data_ptr<float>(), C, h, w, pic.scale, s.max_channels,
                                           enlargement(std::max(h, w), s.tile_pixels), 1);
  if (!grid) return grid.error();
  pic.file = row.name + ".png";
  Result<bool> wr = native::write_png((fs::path(s.out) / pic.file).string(), draw_grid(grid.value(), cmap));
  if (!wr) return wr.error();
  return pic;
}

Result<std::string> write_filters(const torch::Tensor& wt, const FeaturesSettings& s) {
  if (!wt.defined()) return std::string();
  Result<FloatGrid> grid = filter_grid(wt.data_ptr<float>(), static_cast<int>(wt.size(0)), static_cast<int>(wt.size(1)),
                                       static_cast<int>(wt.size(2)), static_cast<int>(wt.size(3)), s.filter_scale, 1);
  if (!grid) return grid.error();
  Result<bool> wr = native::write_png((fs::path(s.out) / "filters.png").string(), draw_grid(grid.value(), Colormap::kViridis));
  if (!wr) return wr.error();
  return std::string("filters.png");
}

// ---- report

std::string report_text(const train::LoadedRun& run, const FeaturesSettings& s, const Forward& f, const torch::Tensor& wt,
                        const std::vector<LayerPicture>& pics, const char* cmap) {
  std::ostringstream md;
  md << std::setprecision(4);
  md << "# Inside the network: " << run.card.name << (run.card.version.empty() ? "" : " " + run.card.version) << "\n\n";
  md << "Model `" << s.model << "`" << (run.exported ? " (exported model folder)" : " (run folder, checkpoint " + s.checkpoint + ")")
     << "; image `" << s.image << "`.\n\n";
  md << "Probabilities (temperature " << run.temperature << "):";
  for (std::size_t c = 0; c < f.probs.size(); ++c) md << (c ? ", " : " ") << run.spec.classes[c] << " " << f.probs[c];
  md << ".\n\n## Input as the network sees it\n\nThe model's own preprocessing (" << run.spec.preprocess.width << "x"
     << run.spec.preprocess.height << "), normalisation undone for display:\n\n![input](input.png)\n\n";
  if (wt.defined()) {
    md << "## First convolution's filters\n\n" << wt.size(0) << " filters of " << wt.size(1) << " x " << wt.size(2) << " x "
       << wt.size(3) << " (out, in, k, k), " << (wt.size(1) == 3 ? "drawn as RGB in the input's channel order" : "drawn in gray")
       << "; each filter min-max scaled on its own (its colours compare within the filter, not across filters), "
       << s.filter_scale << "x nearest neighbour.\n\n![filters](filters.png)\n\n";
  }
  md << "## Feature maps\n\nOne tile per channel (at most " << s.max_channels << ", in channel order), colour map " << cmap
     << ", one colour scale per layer: 0..max, or min..max when the layer has negative values. A dead channel is all zero"
     << " on this image.\n\n| layer | kind | shape (C,h,w) | min | max | colour scale | dead channels | shown |\n"
     << "|---|---|---|---|---|---|---|---|\n";
  for (const LayerPicture& p : pics)
    md << "| " << p.row.name << " | " << p.row.kind << " | " << shape_text(p.row.shape) << " | " << p.stats.min << " | " << p.stats.max
       << " | " << p.scale.lo << ".." << p.scale.hi << " | " << p.stats.dead << "/" << p.stats.channels << " ("
       << std::setprecision(3) << 100.0 * p.stats.dead / std::max(1, p.stats.channels) << std::setprecision(4) << "%) | "
       << p.shown << " |\n";
  for (const LayerPicture& p : pics) md << "\n### " << p.row.name << " (" << p.row.kind << ")\n\n![" << p.row.name << "](" << p.file << ")\n";
  return md.str();
}

// ---- the command

Result<train::LoadedRun> load_model(const FeaturesSettings& s) {
  if (train::is_ensemble_folder(s.model))
    return make_error(ErrorCode::kInvalidArgument, s.model + " is an ensemble: run cellcam features on one of its members (members/N)");
  return train::load_run(s.model, s.checkpoint);
}

Result<Tensor> read_input(const FeaturesSettings& s, const PreprocessSpec& spec) {
  Result<std::vector<std::uint8_t>> bytes = native::read_image_file(s.image);
  Result<Image> image = bytes ? native::decode_any(bytes.value().data(), bytes.value().size()) : Result<Image>(bytes.error());
  Result<Tensor> t = image ? preprocess(image.value(), spec) : Result<Tensor>(image.error());
  if (!t) return make_error(t.error().code, s.image + ": " + t.error().message);
  return t;
}

int features_impl(const FeaturesSettings& s) {
  Result<Colormap> cmap = parse_colormap(s.colormap);
  if (!cmap) return fail(cmap.error());
  if (s.max_channels < 1 || s.tile_pixels < 1 || s.filter_scale < 1)
    return fail(make_error(ErrorCode::kInvalidArgument, "--max-channels, --tile-pixels and --filter-scale must be at least 1"));
  native::configure_torch_threads(s.threads);
  Result<train::LoadedRun> run = load_model(s);
  if (!run) return fail(run.error());
  Result<std::vector<LayerRow>> rows = layer_table(run.value().spec);
  if (!rows) return fail(rows.error());
  if (s.list) {
    print_table(rows.value());
    return 0;
  }
  if (s.image.empty()) return fail(make_error(ErrorCode::kInvalidArgument, "an IMAGE is required (or --list)"));
  Result<std::vector<LayerRow>> chosen = choose_layers(rows.value(), s.layers);
  if (!chosen) return fail(chosen.error());
  const PreprocessSpec& spec = run.value().card.preprocess;
  Result<Tensor> input = read_input(s, spec);
  if (!input) return fail(input.error());
  std::error_code ec;
  fs::create_directories(s.out, ec);
  if (ec) return fail(make_error(ErrorCode::kIo, "cannot create " + s.out + ": " + ec.message()));

  Tensor& t = input.value();
  const torch::Tensor x = torch::from_blob(t.data.data(), {1, t.channels, t.height, t.width}, torch::kFloat).to(run.value().device);
  const Forward f = forward_capturing(run.value(), x, chosen.value());
  const Rgba8 preview = tensor_preview(t, spec);
  Result<bool> w = native::write_png((fs::path(s.out) / "input.png").string(), enlarged(preview, enlargement(std::max(t.width, t.height), 256)));
  if (!w) return fail(w.error());
  const torch::Tensor wt = first_conv_weights(run.value());
  Result<std::string> filters = write_filters(wt, s);
  if (!filters) return fail(filters.error());
  std::vector<LayerPicture> pics;
  for (std::size_t i = 0; i < chosen.value().size(); ++i) {
    Result<LayerPicture> p = write_layer(chosen.value()[i], f.activations[i], s, cmap.value());
    if (!p) return fail(p.error());
    pics.push_back(p.take());
  }
  w = native::write_text_atomically((fs::path(s.out) / "report.md").string(), report_text(run.value(), s, f, wt, pics, colormap_name(cmap.value())));
  if (!w) return fail(w.error());
  std::printf("cellcam features: %zu layer(s)%s of %s written to %s (see %s/report.md)\n", pics.size(),
              wt.defined() ? " and the first convolution's filters" : "", s.image.c_str(), s.out.c_str(), s.out.c_str());
  return 0;
}

}  // namespace

int run_features(const FeaturesSettings& settings) {
  try {
    return features_impl(settings);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cellcam features: %s\n", native::first_line(e.what()).c_str());
    return 1;
  }
}

}  // namespace cellcam::explain
