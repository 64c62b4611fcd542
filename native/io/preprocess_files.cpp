// preprocess_files.cpp — see preprocess_files.h. One bad file never stops the batch: it gets an
// error entry in manifest.json and a line on stderr, and the rest are processed.
#include "preprocess_files.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "cellcam/decode.h"
#include "cellcam/preprocess.h"
#include "cellcam/spec.h"
#include "cellcam/tiling.h"
#include "decode_any.h"
#include "file_io.h"
#include "npy_writer.h"
#include "png_writer.h"

namespace cellcam::native {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Output stem unique within this run: "cell", "cell_2", ...
std::string unique_stem(const std::string& path, std::set<std::string>& used) {
  const std::string stem = fs::path(path).stem().string().empty() ? "image" : fs::path(path).stem().string();
  std::string candidate = stem;
  for (int k = 2; used.count(candidate); ++k) candidate = stem + "_" + std::to_string(k);
  used.insert(candidate);
  return candidate;
}

json error_json(const Error& e) { return json{{"code", error_code_name(e.code)}, {"message", e.message}}; }

// Preprocesses `image` and writes <stem>.npy and <stem>.png; returns the entry for the manifest.
Result<json> write_tensor(const Image& image, const PreprocessSpec& spec, const std::string& out_dir, const std::string& stem) {
  Result<Tensor> tensor = preprocess(image, spec);
  if (!tensor) return tensor.error();
  const std::string npy = stem + ".npy", png = stem + ".png";
  Result<bool> written = write_npy((fs::path(out_dir) / npy).string(), tensor.value());
  if (!written) return written.error();
  written = write_png((fs::path(out_dir) / png).string(), tensor_preview(tensor.value(), spec));
  if (!written) return written.error();
  const Tensor& t = tensor.value();
  return json{{"tensor", npy}, {"preview", png}, {"shape", {t.channels, t.height, t.width}}};
}

}  // namespace

int run_preprocess(const PreprocessSettings& s) {
  Result<std::vector<std::uint8_t>> spec_bytes = read_file(s.spec_path);
  if (!spec_bytes) {
    std::fprintf(stderr, "cellcam: %s\n", spec_bytes.error().message.c_str());
    return 1;
  }
  Result<PreprocessSpec> spec =
      parse_preprocess_spec(std::string(spec_bytes.value().begin(), spec_bytes.value().end()));
  if (!spec) {
    std::fprintf(stderr, "cellcam: %s: %s\n", s.spec_path.c_str(), spec.error().message.c_str());
    return 1;
  }
  std::error_code ec;
  fs::create_directories(s.out_dir, ec);
  if (ec) {
    std::fprintf(stderr, "cellcam: cannot create %s: %s\n", s.out_dir.c_str(), ec.message().c_str());
    return 1;
  }
  DecodeLimits limits;
  limits.max_side = s.max_side;
  limits.max_pixels = s.max_megapixels * 1000000;

  const std::vector<std::string> files = collect_image_files(s.inputs);
  std::set<std::string> used_stems;
  json entries = json::array();
  int failed = 0;
  for (const std::string& path : files) {
    json entry{{"file", path}};
    const std::string stem = unique_stem(path, used_stems);
    Result<Image> image = make_error(ErrorCode::kInternal, "not decoded");
    Result<std::vector<std::uint8_t>> bytes = read_image_file(path);
    if (bytes) {
      const Result<ImageInfo> info = probe_image(bytes.value().data(), bytes.value().size(), limits);
      if (info) entry["format"] = format_name(info.value().format);
      image = decode_any(bytes.value().data(), bytes.value().size(), limits);
    } else {
      image = bytes.error();
    }
    Result<json> written = image ? write_tensor(image.value(), spec.value(), s.out_dir, stem) : Result<json>(image.error());
    if (image) entry["source"] = {{"width", image.value().width}, {"height", image.value().height},
                                  {"channels", image.value().channels}, {"bits", image.value().bits}};
    if (written) {
      entry.update(written.value());
      const Image& img = image.value();
      const int tile = s.tile;
      if (tile > 0 && (img.width > tile || img.height > tile)) {
        // The shared tile plan, with its limit: a 1-pixel tile on a large image is one error row, not
        // millions of files.
        TileSettings plan;
        plan.tile = tile;
        plan.stride = s.stride;
        plan.above = tile;
        plan.max_tiles = s.max_tiles;
        Result<TileGrid> grid = plan_tiles(img.width, img.height, plan);
        if (!grid) {
          written = grid.error();
        } else {
          json tiles = json::array();
          for (std::size_t k = 0; k < grid.value().tiles.size() && written; ++k) {
            const Rect& r = grid.value().tiles[k];
            Result<Image> crop = crop_image(img, r);
            Result<json> t = crop ? write_tensor(crop.value(), spec.value(), s.out_dir, stem + ".tile" + std::to_string(k))
                                  : Result<json>(crop.error());
            if (!t) { written = t.error(); break; }
            t.value()["rect"] = {r.x, r.y, r.width, r.height};
            tiles.push_back(t.value());
          }
          if (written) entry["tiles"] = {{"columns", grid.value().columns}, {"rows", grid.value().rows}, {"items", tiles}};
        }
      }
    }
    entry["ok"] = static_cast<bool>(written);
    if (!written) {
      ++failed;
      entry["error"] = error_json(written.error());
      std::fprintf(stderr, "%s: error: %s\n", path.c_str(), written.error().message.c_str());
    } else {
      std::printf("%s -> %s\n", path.c_str(), entry["tensor"].get<std::string>().c_str());
    }
    entries.push_back(entry);
  }
  const json manifest{{"spec", json::parse(preprocess_spec_to_json(spec.value()))}, {"items", entries}};
  Result<bool> written = write_text_atomically((fs::path(s.out_dir) / "manifest.json").string(), manifest.dump(2) + "\n");
  if (!written) {
    std::fprintf(stderr, "cellcam: %s\n", written.error().message.c_str());
    return 1;
  }
  std::printf("%zu images, %zu written, %d failed; manifest: %s\n", files.size(), files.size() - failed, failed,
              (fs::path(s.out_dir) / "manifest.json").string().c_str());
  return failed ? 2 : 0;
}

}  // namespace cellcam::native
