// bindings.cpp — embind bindings for the page and the node tests. Marshalling only: every function
// copies its inputs into C++ containers, calls cellcam_shared, and returns a plain JS object:
//   { ok: true, ... }  or  { ok: false, code: "truncated", message: "truncated PNG (...)" }.
// No exception reaches JavaScript (each entry point catches everything), and there is no global state
// beyond what a `Model` holds: created once from model.json (parsed once), then called per image by handle
// (preprocess, views, combine, decide, tiles, maps), as whisper.cpp's context is.
#include <emscripten/bind.h>
#include <emscripten/val.h>

#include <cstring>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "cellcam/cam.h"
#include "cellcam/csv.h"
#include "cellcam/decision.h"
#include "cellcam/decode.h"
#include "cellcam/ensemble.h"
#include "cellcam/limits.h"
#include "cellcam/model_card.h"
#include "cellcam/pixels.h"
#include "cellcam/preprocess.h"
#include "cellcam/spec.h"
#include "cellcam/tiff_probe.h"
#include "cellcam/tiling.h"
#include "cellcam/version.h"
#include "cellcam/views.h"

namespace {

using emscripten::val;
using namespace cellcam;

val error_value(ErrorCode code, const std::string& message) {
  val out = val::object();
  out.set("ok", false);
  out.set("code", std::string(error_code_name(code)));
  out.set("message", message);
  return out;
}
val error_value(const Error& e) { return error_value(e.code, e.message); }

const char* const kNotBytes = "expected the file's bytes as a Uint8Array";

// Runs `body`, turning anything thrown into an error value.
template <typename F>
val guarded(F&& body) {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    return error_value(ErrorCode::kOutOfMemory, "out of memory");
  } catch (const std::exception& e) {
    return error_value(ErrorCode::kInternal, std::string("internal error: ") + e.what());
  } catch (...) {
    return error_value(ErrorCode::kInternal, "internal error");
  }
}

bool is_byte_view(const val& array) {
  return !array.isUndefined() && !array.isNull() && val::global("ArrayBuffer").call<bool>("isView", array);
}

// Copies a JS typed array (any element type) into a byte vector; see is_byte_view().
std::vector<std::uint8_t> to_bytes(const val& array) {
  const val u8 = val::global("Uint8Array").new_(array["buffer"], array["byteOffset"], array["byteLength"]);
  std::vector<std::uint8_t> out(u8["length"].as<std::size_t>());
  val(emscripten::typed_memory_view(out.size(), out.data())).call<void>("set", u8);
  return out;
}

template <typename T>
val typed_copy(const char* type, const T* data, std::size_t n) {
  return val::global(type).new_(val(emscripten::typed_memory_view(n, data)));
}

DecodeLimits limits_from(const val& options) {
  DecodeLimits limits;
  if (options.isUndefined() || options.isNull()) return limits;
  // Numbers arrive as doubles (embind's long long wants a BigInt).
  if (options["maxSide"].isNumber()) limits.max_side = static_cast<long long>(options["maxSide"].as<double>());
  if (options["maxMegapixels"].isNumber())
    limits.max_pixels = static_cast<long long>(options["maxMegapixels"].as<double>() * 1000000.0);
  return limits;
}

int thumbnail_size_from(const val& options) {
  if (!options.isUndefined() && !options.isNull() && options["thumbnailSize"].isNumber())
    return static_cast<int>(options["thumbnailSize"].as<double>());
  return 256;
}

// options.name as an int, or `fallback` when absent or not a number.
int int_option(const val& options, const char* name, int fallback) {
  if (options.isUndefined() || options.isNull() || !options[name].isNumber()) return fallback;
  const double v = options[name].as<double>();
  return v >= -2147483647.0 && v <= 2147483647.0 ? static_cast<int>(v) : fallback;
}

// A tile rectangle as the page holds it: {x, y, width, height}.
val rect_value(const Rect& r) {
  val out = val::object();
  out.set("x", r.x);
  out.set("y", r.y);
  out.set("width", r.width);
  out.set("height", r.height);
  return out;
}

val rgba_value(const Rgba8& image) {
  val out = val::object();
  out.set("width", image.width);
  out.set("height", image.height);
  out.set("data", typed_copy("Uint8ClampedArray", image.pixels.data(), image.pixels.size()));
  return out;
}

// Image -> { ok, source, tensor, shape, preview, thumbnail, tiles? }. The tiles, when `settings` plans any
// (tiling.h plan_tiles: the same plan `cellcam predict` follows), are each cropped and preprocessed:
//   tiles: { columns, rows, tile, stride, items: [{x, y, width, height}], tensor: Float32Array (T,C,H,W) }
val preprocess_value(const Image& image, const PreprocessSpec& spec, const val& options, const TileSettings& settings) {
  Result<Tensor> tensor = preprocess(image, spec);
  if (!tensor) return error_value(tensor.error());
  Result<Rgba8> thumb = render_thumbnail(image, thumbnail_size_from(options));
  if (!thumb) return error_value(thumb.error());
  const Tensor& t = tensor.value();
  val out = val::object();
  out.set("ok", true);
  val source = val::object();
  source.set("width", image.width);
  source.set("height", image.height);
  source.set("channels", image.channels);
  source.set("bits", image.bits);
  out.set("source", source);
  out.set("tensor", typed_copy("Float32Array", t.data.data(), t.data.size()));
  val shape = val::array();
  shape.call<void>("push", t.channels, t.height, t.width);
  out.set("shape", shape);
  out.set("preview", rgba_value(tensor_preview(t, spec)));
  out.set("thumbnail", rgba_value(thumb.value()));
  Result<TileGrid> grid = plan_tiles(image.width, image.height, settings);
  if (!grid) return error_value(grid.error());
  if (grid.value().tiles.empty()) return out;
  std::vector<float> all;
  all.reserve(grid.value().tiles.size() * t.data.size());
  val items = val::array();
  for (const Rect& r : grid.value().tiles) {
    Result<Image> crop = crop_image(image, r);
    if (!crop) return error_value(crop.error());
    Result<Tensor> tt = preprocess(crop.value(), spec);
    if (!tt) return error_value(tt.error());
    all.insert(all.end(), tt.value().data.begin(), tt.value().data.end());
    items.call<void>("push", rect_value(r));
  }
  val tiles = val::object();
  tiles.set("columns", grid.value().columns);
  tiles.set("rows", grid.value().rows);
  tiles.set("tile", settings.tile);
  tiles.set("stride", settings.stride > 0 ? settings.stride : settings.tile);
  tiles.set("items", items);
  tiles.set("tensor", typed_copy("Float32Array", all.data(), all.size()));
  out.set("tiles", tiles);
  return out;
}

// The module-level functions' tile options: {tile, stride, tileAbove (default: the tile), maxTiles}.
TileSettings tile_settings_from(const val& options, TileSettings s) {
  s.tile = int_option(options, "tile", s.tile);
  s.stride = int_option(options, "stride", s.stride > 0 ? s.stride : s.tile);
  s.above = int_option(options, "tileAbove", s.above);
  s.max_tiles = int_option(options, "maxTiles", s.max_tiles);
  return s;
}

val preprocess_value(const Image& image, const std::string& spec_json, const val& options) {
  Result<PreprocessSpec> spec = parse_preprocess_spec(spec_json);
  if (!spec) return error_value(spec.error());
  TileSettings none;
  none.tile = 0;
  const TileSettings s = tile_settings_from(options, none);
  TileSettings with_above = s;
  if (options.isUndefined() || options.isNull() || !options["tileAbove"].isNumber()) with_above.above = s.tile;
  return preprocess_value(image, spec.value(), options, with_above);
}

// Decodes `bytes` (PNG, JPEG, BMP, GIF, TGA) and hands the image to `then`.
template <typename F>
val with_decoded_bytes(const val& bytes, const val& options, F&& then) {
  if (!is_byte_view(bytes)) return error_value(ErrorCode::kInvalidArgument, kNotBytes);
  const std::vector<std::uint8_t> b = to_bytes(bytes);
  Result<Image> image = decode_image(b.data(), b.size(), limits_from(options));
  if (!image) return error_value(image.error());
  val out = then(image.value());
  if (out["ok"].as<bool>()) out.set("format", std::string(format_name(sniff_format(b.data(), b.size()))));
  return out;
}

// ---- entry points

std::string version() { return version_string(); }

// csvCell(text) / csvQuote(text): one CSV cell (cellcam/csv.h: formula neutralisation + RFC 4180 quoting,
// or quoting only), the rule `cellcam predict` writes its cells with. Strings are UTF-8 both ways.
std::string csv_cell_value(std::string text) { return csv_cell(text); }
std::string csv_quote_value(std::string text) { return csv_quote(text); }

// limits() -> { maxFileBytes, maxSide, maxMegapixels, minTile, maxTile, maxTileAbove, defaultTileAbove,
// maxTiles }: cellcam/limits.h, for the page's inputs and its check before a file is read.
val limits() {
  val out = val::object();
  out.set("maxFileBytes", static_cast<double>(kMaxFileBytes));
  out.set("maxSide", static_cast<double>(kMaxSide));
  out.set("maxMegapixels", static_cast<double>(kMaxPixels / 1000000));
  out.set("minTile", kMinTile);
  out.set("maxTile", kMaxTile);
  out.set("maxTileAbove", kMaxTileAbove);
  out.set("defaultTileAbove", kDefaultTileAbove);
  out.set("maxTiles", kDefaultMaxTiles);
  return out;
}

// checkFileSize(bytes) -> { ok: true } or { ok: false, code: "too_large", message }: before the page reads
// a file, with the words the CLI uses.
val check_file_size_value(double bytes) {
  Result<bool> fits = check_file_size(static_cast<long long>(bytes));
  if (!fits) return error_value(fits.error());
  val out = val::object();
  out.set("ok", true);
  return out;
}

// probe(bytes, options?) -> { ok, format, width, height, channels, bits }
val probe(val bytes, val options) {
  return guarded([&] {
    if (!is_byte_view(bytes)) return error_value(ErrorCode::kInvalidArgument, kNotBytes);
    const std::vector<std::uint8_t> b = to_bytes(bytes);
    Result<ImageInfo> info = probe_image(b.data(), b.size(), limits_from(options));
    if (!info) return error_value(info.error());
    val out = val::object();
    out.set("ok", true);
    out.set("format", std::string(format_name(info.value().format)));
    out.set("width", info.value().width);
    out.set("height", info.value().height);
    out.set("channels", info.value().channels);
    out.set("bits", info.value().bits);
    return out;
  });
}

// probeTiff(bytes, options?) -> the TIFF header as the page's TIFF reader needs it, or the refusal.
val probe_tiff_value(val bytes, val options) {
  return guarded([&] {
    if (!is_byte_view(bytes)) return error_value(ErrorCode::kInvalidArgument, kNotBytes);
    const std::vector<std::uint8_t> b = to_bytes(bytes);
    Result<TiffInfo> info = probe_tiff(b.data(), b.size(), limits_from(options));
    if (!info) return error_value(info.error());
    const TiffInfo& t = info.value();
    val out = val::object();
    out.set("ok", true);
    out.set("width", t.width);
    out.set("height", t.height);
    out.set("bitsPerSample", t.bits_per_sample);
    out.set("samplesPerPixel", t.samples_per_pixel);
    out.set("photometric", t.photometric);
    out.set("compression", t.compression);
    out.set("compressionName", tiff_compression_name(t.compression));
    out.set("planar", t.planar_config == 2);
    out.set("tiled", t.tiled);
    out.set("bigEndian", t.big_endian);
    out.set("pages", t.page_count);
    out.set("outputChannels", tiff_output_channels(t));
    out.set("colormap", typed_copy("Uint16Array", t.colormap.data(), t.colormap.size()));
    return out;
  });
}

// preprocess(bytes, specJson, options?) for PNG, JPEG, BMP, GIF, TGA.
// options: {maxSide, maxMegapixels} (limits), thumbnailSize (longer side of `thumbnail`, default 256; the
// image at full size when it is not longer), {tile, stride, tileAbove, maxTiles} (see preprocess_value).
val preprocess_bytes(val bytes, std::string spec_json, val options) {
  return guarded([&] {
    return with_decoded_bytes(bytes, options, [&](const Image& image) { return preprocess_value(image, spec_json, options); });
  });
}

// preprocessPixels({width, height, channels, bits, data, layout?, colormap?}, specJson, options?)
// layout: "direct" (default) | "min-is-white" | "palette"; data: Uint8Array (8-bit) or Uint16Array (16-bit).
// A JS pixel object -> an Image (see preprocess_pixels), into `then`.
template <typename F>
val with_pixels(const val& pixels, const val& options, F&& then) {
  if (pixels.isUndefined() || pixels.isNull() || !is_byte_view(pixels["data"]) || !pixels["width"].isNumber() ||
      !pixels["height"].isNumber() || !pixels["channels"].isNumber() || !pixels["bits"].isNumber())
    return error_value(ErrorCode::kInvalidArgument,
                       "pixels must be an object with numbers width, height, channels, bits and a typed array data");
  const std::vector<std::uint8_t> data = to_bytes(pixels["data"]);
  std::vector<std::uint16_t> colormap;
  PixelBuffer p;
  p.width = pixels["width"].as<int>();
  p.height = pixels["height"].as<int>();
  p.channels = pixels["channels"].as<int>();
  p.bits = pixels["bits"].as<int>();
  p.data = data.data();
  p.size_bytes = data.size();
  const std::string layout = pixels["layout"].isString() ? pixels["layout"].as<std::string>() : "direct";
  if (layout == "min-is-white") {
    p.layout = PixelLayout::kMinIsWhite;
  } else if (layout == "palette") {
    p.layout = PixelLayout::kPalette;
    if (is_byte_view(pixels["colormap"])) {
      const std::vector<std::uint8_t> raw = to_bytes(pixels["colormap"]);
      colormap.resize(raw.size() / 2);
      std::memcpy(colormap.data(), raw.data(), colormap.size() * 2);
    }
    p.colormap = colormap.data();
    p.colormap_entries = colormap.size();
  } else if (layout != "direct") {
    return error_value(ErrorCode::kInvalidArgument, "unknown pixel layout '" + layout + "'");
  }
  Result<Image> image = image_from_pixels(p, limits_from(options));
  if (!image) return error_value(image.error());
  return then(image.value());
}

val preprocess_pixels(val pixels, std::string spec_json, val options) {
  return guarded([&] {
    return with_pixels(pixels, options, [&](const Image& image) { return preprocess_value(image, spec_json, options); });
  });
}

// parseSpec(json) -> { ok, spec: canonical JSON text } : lets the page validate a model.json early.
val parse_spec(std::string spec_json) {
  return guarded([&] {
    Result<PreprocessSpec> spec = parse_preprocess_spec(spec_json);
    if (!spec) return error_value(spec.error());
    val out = val::object();
    out.set("ok", true);
    out.set("spec", preprocess_spec_to_json(spec.value()));
    return out;
  });
}

// tileGrid(width, height, tile, stride) -> { ok, columns, rows, tiles: [{x, y, width, height}] }
val tile_grid_value(int width, int height, int tile, int stride) {
  return guarded([&] {
    Result<TileGrid> grid = tile_grid(width, height, tile, stride);
    if (!grid) return error_value(grid.error());
    val out = val::object();
    out.set("ok", true);
    out.set("columns", grid.value().columns);
    out.set("rows", grid.value().rows);
    val tiles = val::array();
    for (const Rect& r : grid.value().tiles) tiles.call<void>("push", rect_value(r));
    out.set("tiles", tiles);
    return out;
  });
}

// canvasPlacement(width, height, specJson) -> { ok, x0, y0, scaleX, scaleY, contentX, contentY,
// contentWidth, contentHeight }: where an image of that size lies on the model's input canvas.
val canvas_placement_value(int width, int height, std::string spec_json) {
  return guarded([&] {
    Result<PreprocessSpec> spec = parse_preprocess_spec(spec_json);
    if (!spec) return error_value(spec.error());
    Result<CanvasPlacement> p = canvas_placement(width, height, spec.value());
    if (!p) return error_value(p.error());
    val out = val::object();
    out.set("ok", true);
    out.set("x0", p.value().x0);
    out.set("y0", p.value().y0);
    out.set("scaleX", p.value().scale_x);
    out.set("scaleY", p.value().scale_y);
    out.set("contentX", p.value().content_x);
    out.set("contentY", p.value().content_y);
    out.set("contentWidth", p.value().content_width);
    out.set("contentHeight", p.value().content_height);
    return out;
  });
}

// Heatmap (RGB) -> RGBA for ImageData.
Rgba8 heatmap_rgba(const Image& heatmap) {
  Rgba8 heat;
  heat.width = heatmap.width;
  heat.height = heatmap.height;
  const std::size_t n = static_cast<std::size_t>(heatmap.width) * heatmap.height;
  heat.pixels.assign(n * 4, 255);
  for (std::size_t p = 0; p < n; ++p) std::memcpy(&heat.pixels[4 * p], &heatmap.samples[3 * p], 3);
  return heat;
}

// The heatmap's scale from {scale?: 'relative'|'absolute', probability?: number} (cam.h CamScaling): the
// absolute scale needs the probability of the class the map explains.
Result<CamScaling> scaling_of(const val& args) {
  CamScaling out;
  if (!args["scale"].isUndefined() && !args["scale"].isNull()) {
    if (!args["scale"].isString()) return make_error(ErrorCode::kInvalidArgument, "scale must be 'relative' or 'absolute'");
    Result<CamScale> scale = parse_cam_scale(args["scale"].as<std::string>());
    if (!scale) return scale.error();
    out.scale = scale.value();
  }
  if (out.scale == CamScale::kAbsolute) {
    if (!args["probability"].isNumber())
      return make_error(ErrorCode::kInvalidArgument, "the absolute scale needs the probability of the explained class");
    out.probability = static_cast<float>(args["probability"].as<double>());
  }
  return out;
}

// colormapTable(name) -> Uint8Array (256,3): the colours a map value v in [0,1] gets at index floor(v*255+0.5)
// (cam.h colormap_table), for the page's colour legend.
val colormap_table_value(std::string name) {
  return guarded([&] {
    Result<Colormap> c = parse_colormap(name);
    if (!c) return error_value(c.error());
    return typed_copy("Uint8Array", colormap_table(c.value()), 256 * 3);
  });
}

// renderCam({cam, camWidth, camHeight, width, height, rgba, colormap?, alpha?, heatmapOnly?, scale?,
//            probability?}, specJson)
//   cam: Float32Array (camHeight,camWidth), the raw map over the spec's canvas; rgba: the original image,
//   (height,width,4) Uint8Array or Uint8ClampedArray; colormap "jet" (default) | "viridis"; alpha: the
//   colour's weight, default 0.5; scale 'relative' (default) | 'absolute' with the explained class's
//   probability (cam.h scale_cam).
// -> { ok, overlay: {width, height, data}, heatmap: {width, height, data} (RGBA, alpha 255),
//      cam: Float32Array (height,width) in [0,1] on the original image (0 where crop cut it off) }
// heatmapOnly: true -> { ok, heatmap } alone, and rgba is not needed: the same steps as render_cam up to
// heatmap_image (the page blends the overlay itself, bit for bit as overlay() does, at any opacity).
val render_cam_value(val args, std::string spec_json) {
  return guarded([&] {
    const bool heatmap_only = !args.isUndefined() && !args.isNull() && args["heatmapOnly"].isTrue();
    if (args.isUndefined() || args.isNull() || !args["camWidth"].isNumber() || !args["camHeight"].isNumber() ||
        !args["width"].isNumber() || !args["height"].isNumber() || !is_byte_view(args["cam"]) ||
        (!heatmap_only && !is_byte_view(args["rgba"])))
      return error_value(ErrorCode::kInvalidArgument,
                         "renderCam needs {cam: Float32Array, camWidth, camHeight, width, height, rgba: Uint8Array}");
    if (!args["cam"].instanceof(val::global("Float32Array")))
      return error_value(ErrorCode::kInvalidArgument, "renderCam: cam must be a Float32Array");
    const int cam_w = args["camWidth"].as<int>(), cam_h = args["camHeight"].as<int>();
    const int width = args["width"].as<int>(), height = args["height"].as<int>();
    if (cam_w < 1 || cam_h < 1 || width < 1 || height < 1)
      return error_value(ErrorCode::kInvalidArgument, "renderCam: sizes must be positive");
    const std::vector<std::uint8_t> cam_bytes = to_bytes(args["cam"]);
    if (cam_bytes.size() != static_cast<std::size_t>(cam_w) * cam_h * sizeof(float))
      return error_value(ErrorCode::kInvalidArgument, "renderCam: cam has " + std::to_string(cam_bytes.size() / 4) +
                                                          " values, camWidth x camHeight is " +
                                                          std::to_string(static_cast<long long>(cam_w) * cam_h));
    std::vector<float> cam(static_cast<std::size_t>(cam_w) * cam_h);
    std::memcpy(cam.data(), cam_bytes.data(), cam_bytes.size());
    const std::string colormap_name_text = args["colormap"].isString() ? args["colormap"].as<std::string>() : "jet";
    Result<Colormap> colormap = parse_colormap(colormap_name_text);
    if (!colormap) return error_value(colormap.error());
    Result<PreprocessSpec> spec = parse_preprocess_spec(spec_json);
    if (!spec) return error_value(spec.error());
    Result<CamScaling> scaling = scaling_of(args);
    if (!scaling) return error_value(scaling.error());
    if (heatmap_only) {
      Result<CamRendering> heat =
          render_heatmap(cam.data(), cam_w, cam_h, width, height, spec.value(), colormap.value(), scaling.value());
      if (!heat) return error_value(heat.error());
      val out = val::object();
      out.set("ok", true);
      out.set("heatmap", rgba_value(heatmap_rgba(heat.value().heatmap)));
      return out;
    }
    Image image;
    image.width = width;
    image.height = height;
    image.channels = 4;
    image.bits = 8;
    image.samples = to_bytes(args["rgba"]);
    if (image.samples.size() != static_cast<std::size_t>(width) * height * 4)
      return error_value(ErrorCode::kInvalidArgument, "renderCam: rgba has " + std::to_string(image.samples.size()) +
                                                          " bytes, width x height x 4 is " +
                                                          std::to_string(static_cast<long long>(width) * height * 4));
    const float alpha = args["alpha"].isNumber() ? static_cast<float>(args["alpha"].as<double>()) : 0.5f;
    Result<CamRendering> r = render_cam(image, cam.data(), cam_w, cam_h, spec.value(), colormap.value(), alpha, scaling.value());
    if (!r) return error_value(r.error());
    const CamRendering& c = r.value();
    const Rgba8 heat = heatmap_rgba(c.heatmap);
    Rgba8 over;
    over.width = width;
    over.height = height;
    over.pixels = c.overlay.samples;  // RGBA in, RGBA out (alpha kept)
    val out = val::object();
    out.set("ok", true);
    out.set("overlay", rgba_value(over));
    out.set("heatmap", rgba_value(heat));
    out.set("cam", typed_copy("Float32Array", c.cam01.data(), c.cam01.size()));
    return out;
  });
}


// ---- the Model: model.json parsed once, then every per-image rule by handle

std::vector<float> floats_of(const val& array, const char* what) {
  if (!is_byte_view(array) || !array.instanceof(val::global("Float32Array")))
    throw std::invalid_argument(std::string(what) + " must be a Float32Array");
  const std::vector<std::uint8_t> bytes = to_bytes(array);
  std::vector<float> out(bytes.size() / sizeof(float));
  std::memcpy(out.data(), bytes.data(), out.size() * sizeof(float));
  return out;
}

std::vector<double> doubles_of(const val& list) {
  std::vector<double> out;
  if (list.isUndefined() || list.isNull()) return out;
  for (int i = 0; i < list["length"].as<int>(); ++i) out.push_back(list[i].as<double>());
  return out;
}

val strings_value(const std::vector<std::string>& items) {
  val out = val::array();
  for (const std::string& s : items) out.call<void>("push", s);
  return out;
}

val cam_value(const CamInfo& c) {
  if (!c.present()) return val::null();
  val out = val::object();
  out.set("width", c.width);
  out.set("height", c.height);
  out.set("layer", c.layer);
  out.set("method", c.method);
  return out;
}

// The tile list the page hands back (preprocess's tiles.items) -> a TileGrid.
TileGrid grid_from(const val& tiles) {
  TileGrid grid;
  const val items = tiles["items"];
  const int count = items["length"].as<int>();
  for (int i = 0; i < count; ++i) {
    const val r = items[i];
    grid.tiles.push_back(Rect{r["x"].as<int>(), r["y"].as<int>(), r["width"].as<int>(), r["height"].as<int>()});
  }
  grid.columns = tiles["columns"].isNumber() ? tiles["columns"].as<int>() : 0;
  grid.rows = tiles["rows"].isNumber() ? tiles["rows"].as<int>() : 0;
  return grid;
}

class Model {
 public:
  // load(modelJsonText) -> { ok, info } | error. A Model may be loaded once.
  val load(std::string text) {
    return guarded([&] {
      Result<ModelCard> card = parse_model_card(text);
      if (!card) return error_value(card.error());
      card_ = card.take();
      rule_ = decision_rule(card_);
      loaded_ = true;
      return info();
    });
  }

  // info() -> { ok, name, version, classes, displayNames, head, threshold, thresholdSource, reviewBand,
  //   reviewSource, temperature, inputShape [C,H,W], preprocessJson, cam, tta {default, note}, members
  //   [{name, file, sha256, bytes}], ensemble {method, members} | null, rules {decision, review, tiles},
  //   tileSettings {tile, stride, above, maxTiles}, viewCount, ood {score, threshold, passRate, source} | null
//   (the graph's "ood" output, cellcam/ood.h), extraJson (metrics, architecture...: display only) }
  val info() const {
    return guarded([&] {
      if (!loaded_) return error_value(ErrorCode::kInvalidArgument, "no model loaded");
      val out = val::object();
      out.set("ok", true);
      out.set("name", card_.name);
      out.set("version", card_.version);
      out.set("classes", strings_value(card_.classes));
      out.set("displayNames", strings_value(card_.display_names));
      out.set("head", std::string(card_.binary() ? "binary" : "multiclass"));
      out.set("threshold", card_.threshold);
      out.set("thresholdSource", card_.threshold_source);
      val band = val::array();
      band.call<void>("push", rule_.band.lo, rule_.band.hi);
      out.set("reviewBand", band);
      out.set("reviewSource", rule_.band.source);
      out.set("temperature", card_.temperature);
      val shape = val::array();
      shape.call<void>("push", card_.preprocess.channels(), card_.preprocess.height, card_.preprocess.width);
      out.set("inputShape", shape);
      out.set("preprocessJson", preprocess_spec_to_json(card_.preprocess));
      out.set("cam", cam_value(card_.cam));
      val tta = val::object();
      tta.set("default", card_.tta_default);
      tta.set("note", card_.tta_note);
      out.set("tta", tta);
      val members = val::array();
      for (const OnnxFile& f : card_.onnx_files()) {
        val m = val::object();
        m.set("file", f.file);
        m.set("sha256", f.sha256);
        m.set("bytes", static_cast<double>(f.bytes));
        members.call<void>("push", m);
      }
      for (std::size_t i = 0; card_.is_ensemble && i < card_.ensemble.members.size(); ++i)
        members[i].set("name", card_.ensemble.members[i].name);
      out.set("members", members);
      if (card_.is_ensemble) {
        val e = val::object();
        e.set("method", std::string(card_.ensemble.method == CombineMethod::kSoft ? "soft" : "stacking"));
        e.set("members", static_cast<int>(card_.ensemble.members.size()));
        val review = val::null();
        if (card_.ensemble.review_on_disagreement) {
          review = val::object();
          review.set("score", std::string("disagreement"));
          review.set("cutoff", card_.ensemble.disagreement_cutoff);
        }
        e.set("review", review);
        out.set("ensemble", e);
      } else {
        out.set("ensemble", val::null());
      }
      const RuleText rules = describe_rules(card_);
      val r = val::object();
      r.set("decision", rules.decision);
      r.set("review", rules.review);
      r.set("tiles", rules.tiles);
      r.set("ood", rules.ood);
      out.set("rules", r);
      if (card_.ood.present) {  // the out-of-distribution score (cellcam/ood.h)
        val o = val::object();
        o.set("score", card_.ood.score);
        o.set("threshold", card_.ood.threshold);
        o.set("passRate", card_.ood.pass_rate);
        o.set("source", card_.ood.threshold_source);
        out.set("ood", o);
      } else {
        out.set("ood", val::null());
      }
      const TileSettings t = default_tile_settings(card_);
      val ts = val::object();
      ts.set("tile", t.tile);
      ts.set("stride", t.stride);
      ts.set("above", t.above);
      ts.set("maxTiles", t.max_tiles);
      out.set("tileSettings", ts);
      out.set("viewCount", view_count(card_.preprocess.height, card_.preprocess.width));
      out.set("extraJson", card_.extra_json);
      return out;
    });
  }

  // checkGraph(inputDims, probsDims, camDims | null, oodDims | null) -> { ok } | error: the ONNX session
  // against model.json (a card with an "ood" block needs the "ood" output).
  val check_graph(val input_dims, val probs_dims, val cam_dims, val ood_dims) const {
    return guarded([&] {
      auto dims = [](const val& a) {
        std::vector<long long> out;
        if (a.isUndefined() || a.isNull()) return out;
        for (int i = 0; i < a["length"].as<int>(); ++i) out.push_back(a[i].isNumber() ? static_cast<long long>(a[i].as<double>()) : -1);
        return out;
      };
      Result<bool> r = check_onnx_outputs(card_, dims(input_dims), dims(probs_dims), dims(cam_dims));
      if (r) r = check_onnx_ood_output(card_, dims(ood_dims));
      if (!r) return error_value(r.error());
      val out = val::object();
      out.set("ok", true);
      return out;
    });
  }

  // preprocess(bytes, options) / preprocessPixels(pixels, options): as the module-level functions, with the
  // card's spec and tile plan (options {tile, stride, tileAbove, maxTiles} override the card's defaults).
  val preprocess_bytes(val bytes, val options) const {
    return guarded([&] {
      return with_decoded_bytes(bytes, options, [&](const Image& image) {
        return preprocess_value(image, card_.preprocess, options, tile_settings_from(options, default_tile_settings(card_)));
      });
    });
  }
  val preprocess_pixels(val pixels, val options) const {
    return guarded([&] {
      return with_pixels(pixels, options, [&](const Image& image) {
        return preprocess_value(image, card_.preprocess, options, tile_settings_from(options, default_tile_settings(card_)));
      });
    });
  }

  // makeInput(tensors (n,C,H,W), n, tta) -> { ok, input: Float32Array (n*V,C,H,W), views: V }
  val make_input(val tensors, int n, bool tta) const {
    return guarded([&] {
      const std::vector<float> t = floats_of(tensors, "tensors");
      const PreprocessSpec& p = card_.preprocess;
      const std::size_t size = static_cast<std::size_t>(p.channels()) * p.height * p.width;
      if (n < 1 || t.size() != n * size) return error_value(ErrorCode::kInvalidArgument, "makeInput: tensors are not (n,C,H,W)");
      val out = val::object();
      out.set("ok", true);
      if (!tta) {
        out.set("input", tensors);
        out.set("views", 1);
        return out;
      }
      const std::vector<float> v = make_views(t.data(), n, p.channels(), p.height, p.width);
      out.set("input", typed_copy("Float32Array", v.data(), v.size()));
      out.set("views", view_count(p.height, p.width));
      return out;
    });
  }

  // combine(outputs, n, tta): outputs = one {probs: Float32Array (n*V,K), cam?: Float32Array (n*V,K,h,w), -> { ok, probs (n,K), cams (n,K,h,w) | null,
  // camWidth, camHeight, ood?: Float32Array (n*V)} per member, V the views of makeInput. -> { ok, probs (n,K),
  // cams (n,K,h,w) | null, camWidth, camHeight, disagreement: Float64Array (n) | null (members),
  // viewDisagreement (n) | null (one model with TTA), ood: Float64Array (n) | null (cellcam/ood.h) }.
  val combine(val outputs, int n, bool tta) const {
    return guarded([&] {
      std::vector<MemberOutput> members;
      for (int m = 0; m < outputs["length"].as<int>(); ++m) {
        const val o = outputs[m];
        MemberOutput out;
        out.probs = floats_of(o["probs"], "probs");
        if (is_byte_view(o["cam"]) && o["camWidth"].isNumber() && o["camHeight"].isNumber()) {
          out.cams = floats_of(o["cam"], "cam");
          out.cam_width = o["camWidth"].as<int>();
          out.cam_height = o["camHeight"].as<int>();
        }
        if (is_byte_view(o["ood"])) out.ood = floats_of(o["ood"], "ood");
        members.push_back(std::move(out));
      }
      Result<CombinedOutput> c = combine_outputs(card_, members, n, tta);
      if (!c) return error_value(c.error());
      const CombinedOutput& r = c.value();
      auto doubles = [](const std::vector<double>& v) {
        return v.empty() ? val::null() : typed_copy("Float64Array", v.data(), v.size());
      };
      val out = val::object();
      out.set("ok", true);
      out.set("probs", typed_copy("Float32Array", r.probs.data(), r.probs.size()));
      out.set("cams", r.cams.empty() ? val::null() : typed_copy("Float32Array", r.cams.data(), r.cams.size()));
      out.set("camWidth", r.cam_width);
      out.set("camHeight", r.cam_height);
      out.set("disagreement", doubles(r.disagreement));
      out.set("viewDisagreement", doubles(r.view_disagreement));
      out.set("ood", doubles(r.ood));
      return out;
    });
  }

  // decide(probs (K), disagreement | null, oodScore | null) -> { ok, index, label, displayName, score, review,
  //   ood (not the kind of image the model was trained on; review is then true too), oodScore | null }
  val decide_value(val probs, val disagreement, val ood_score) const {
    return guarded([&] {
      const std::vector<double> p = doubles_of(probs);
      if (static_cast<int>(p.size()) != card_.class_count())
        return error_value(ErrorCode::kInvalidArgument, "decide: " + std::to_string(p.size()) + " probabilities for " +
                                                            std::to_string(card_.class_count()) + " classes");
      const double ood = ood_score.isNumber() ? ood_score.as<double>() : kNoOodScore;
      const Decision d = decide(p.data(), rule_, disagreement.isNumber() ? disagreement.as<double>() : -1.0, ood);
      val out = val::object();
      out.set("ok", true);
      out.set("index", d.index);
      out.set("label", card_.classes[d.index]);
      out.set("displayName", card_.display_names[d.index]);
      out.set("score", d.score);
      out.set("review", d.review);
      out.set("ood", d.ood);
      out.set("oodScore", ood >= 0 ? val(ood) : val::null());
      return out;
    });
  }

  // aggregateTiles(tileProbs (T,K), tileCams (T,K,h,w) | null, camWidth, camHeight, tiles, width, height,
  //   tileOod (T) | null)
  //   -> { ok, probs (K), positiveTiles, bestTile, best: {x,y,width,height}, maps (K,mapH,mapW) | null, mapWidth,
  //        mapHeight, ood: the image's out-of-distribution score | null }: the image's probabilities and its
  //        stitched raw maps (tiling.h).
  val aggregate_tiles_value(val tile_probs, val tile_cams, int cam_w, int cam_h, val tiles, int width, int height,
                            val tile_ood) const {
    return guarded([&] {
      const int K = card_.class_count();
      const TileGrid grid = grid_from(tiles);
      const int T = static_cast<int>(grid.tiles.size());
      const std::vector<float> p = floats_of(tile_probs, "tileProbs");
      if (T < 1 || p.size() != static_cast<std::size_t>(T) * K)
        return error_value(ErrorCode::kInvalidArgument, "aggregateTiles: tileProbs is not (T,K)");
      const TileAggregate a = aggregate_tiles(p.data(), T, K, card_.binary(), card_.threshold);
      val out = val::object();
      out.set("ok", true);
      out.set("probs", typed_copy("Float32Array", a.probs.data(), a.probs.size()));
      out.set("positiveTiles", a.positive_tiles);
      out.set("bestTile", a.best_tile);
      out.set("best", tiles["items"][a.best_tile]);
      out.set("ood", val::null());
      if (is_byte_view(tile_ood)) {
        const std::vector<double> o = doubles_of(tile_ood);
        if (o.size() != static_cast<std::size_t>(T)) return error_value(ErrorCode::kInvalidArgument, "aggregateTiles: tileOod is not (T)");
        out.set("ood", aggregate_tile_ood(o.data(), T, card_.binary(), a));
      }
      out.set("maps", val::null());
      out.set("mapWidth", 0);
      out.set("mapHeight", 0);
      if (!is_byte_view(tile_cams)) return out;
      const std::vector<float> c = floats_of(tile_cams, "tileCams");
      if (c.size() != static_cast<std::size_t>(T) * K * cam_w * cam_h)
        return error_value(ErrorCode::kInvalidArgument, "aggregateTiles: tileCams is not (T,K,h,w)");
      Result<StitchedMap> s = stitch_tile_cams(c.data(), K, cam_w, cam_h, grid, width, height, card_.preprocess);
      if (!s) return error_value(s.error());
      out.set("maps", typed_copy("Float32Array", s.value().maps.data(), s.value().maps.size()));
      out.set("mapWidth", s.value().width);
      out.set("mapHeight", s.value().height);
      return out;
    });
  }

  // heatmap({cam (h,w), camWidth, camHeight, width, height, stitched?, colormap?, scale?, probability?})
  //   -> { ok, heatmap RGBA, cam (H,W) in [0,1] }: the map of one class drawn over an image of width x height
  // (the page's view of it). stitched: the map covers the whole image (aggregateTiles' maps), else the
  // model's canvas. scale 'absolute' weighs the map by `probability`, the explained class's (cam.h scale_cam).
  val heatmap(val args) const {
    return guarded([&] {
      const std::vector<float> cam = floats_of(args["cam"], "cam");
      const int cam_w = args["camWidth"].as<int>(), cam_h = args["camHeight"].as<int>();
      const int width = args["width"].as<int>(), height = args["height"].as<int>();
      if (cam_w < 1 || cam_h < 1 || cam.size() != static_cast<std::size_t>(cam_w) * cam_h)
        return error_value(ErrorCode::kInvalidArgument, "heatmap: cam is not camHeight x camWidth");
      Result<Colormap> colormap = parse_colormap(args["colormap"].isString() ? args["colormap"].as<std::string>() : "jet");
      if (!colormap) return error_value(colormap.error());
      const PreprocessSpec spec = args["stitched"].isTrue() ? stitched_map_spec(width, height) : card_.preprocess;
      Result<CamScaling> scaling = scaling_of(args);
      if (!scaling) return error_value(scaling.error());
      Result<CamRendering> heat = render_heatmap(cam.data(), cam_w, cam_h, width, height, spec, colormap.value(), scaling.value());
      if (!heat) return error_value(heat.error());
      val out = val::object();
      out.set("ok", true);
      out.set("heatmap", rgba_value(heatmap_rgba(heat.value().heatmap)));
      out.set("cam", typed_copy("Float32Array", heat.value().cam01.data(), heat.value().cam01.size()));
      return out;
    });
  }

 private:
  ModelCard card_;
  DecisionRule rule_;
  bool loaded_ = false;
};

// blendOverlay(rgba, heatmap, alpha) -> Uint8ClampedArray: cam.h blend_rgba, the overlay at any opacity.
val blend_overlay(val rgba, val heatmap, double alpha) {
  return guarded([&] {
    if (!is_byte_view(rgba) || !is_byte_view(heatmap))
      return error_value(ErrorCode::kInvalidArgument, "blendOverlay needs two RGBA byte arrays");
    const std::vector<std::uint8_t> a = to_bytes(rgba), h = to_bytes(heatmap);
    if (a.size() != h.size() || a.size() % 4 != 0)
      return error_value(ErrorCode::kInvalidArgument, "blendOverlay: the image and the heatmap differ in size");
    std::vector<std::uint8_t> out(a.size());
    blend_rgba(a.data(), h.data(), a.size() / 4, static_cast<float>(alpha), out.data());
    return typed_copy("Uint8ClampedArray", out.data(), out.size());
  });
}


// ---- the rules one by one, for tests and tools that have no model.json (the Model calls the same C++)

std::vector<std::vector<float>> float_lists(const val& arrays, const char* what) {
  std::vector<std::vector<float>> out;
  for (int i = 0; i < arrays["length"].as<int>(); ++i) out.push_back(floats_of(arrays[i], what));
  return out;
}

// normalizeCam(map) -> Float32Array in [0,1] (cam.h normalize_cam)
val normalize_cam_value(val map) {
  return guarded([&] {
    const std::vector<float> m = floats_of(map, "map");
    Result<std::vector<float>> out = normalize_cam(m.data(), static_cast<int>(m.size()));
    if (!out) return error_value(out.error());
    return typed_copy("Float32Array", out.value().data(), out.value().size());
  });
}

// scaleCam(map, {scale, probability}) -> Float32Array in [0,1] (cam.h scale_cam)
val scale_cam_value(val map, val options) {
  return guarded([&] {
    const std::vector<float> m = floats_of(map, "map");
    Result<CamScaling> scaling = scaling_of(options);
    if (!scaling) return error_value(scaling.error());
    Result<std::vector<float>> out = scale_cam(m.data(), static_cast<int>(m.size()), scaling.value().scale, scaling.value().probability);
    if (!out) return error_value(out.error());
    return typed_copy("Float32Array", out.value().data(), out.value().size());
  });
}

// One rule over a Float32Array of `count` values -> a typed array of its result (`type`).
template <typename F>
val array_rule(const val& in, std::size_t count, const char* what, const char* type, F&& rule) {
  return guarded([&] {
    const std::vector<float> x = floats_of(in, what);
    if (x.size() != count)
      return error_value(ErrorCode::kInvalidArgument, std::string(what) + " has " + std::to_string(x.size()) +
                                                          " values, the sizes given make " + std::to_string(count));
    const auto out = rule(x.data());
    return typed_copy(type, out.data(), out.size());
  });
}
std::size_t product(std::initializer_list<int> dims) {
  std::size_t p = 1;
  for (int d : dims) p *= static_cast<std::size_t>(d > 0 ? d : 0);
  return p;
}

// makeViews(tensors (n,C,H,W), n, C, H, W) -> Float32Array (n,V,C,H,W)
val make_views_value(val tensors, int n, int c, int h, int w) {
  return array_rule(tensors, product({n, c, h, w}), "tensors", "Float32Array",
                    [&](const float* t) { return make_views(t, n, c, h, w); });
}
// averageViewProbs(probs (n*V,K), n, V, K) -> Float32Array (n,K)
val average_view_probs_value(val probs, int n, int V, int K) {
  return array_rule(probs, product({n, V, K}), "probs", "Float32Array",
                    [&](const float* p) { return average_view_probs(p, n, V, K); });
}
// averageViewCams(cams (n*V,K,h,w), n, V, K, h, w) -> Float32Array (n,K,h,w)
val average_view_cams_value(val cams, int n, int V, int K, int h, int w) {
  return array_rule(cams, product({n, V, K, h, w}), "cams", "Float32Array",
                    [&](const float* c) { return average_view_cams(c, n, V, K, h, w); });
}
// viewDisagreement(probs (n*V,K), n, V, K) -> Float64Array (n)
val view_disagreement_value(val probs, int n, int V, int K) {
  return array_rule(probs, product({n, V, K}), "probs", "Float64Array",
                    [&](const float* p) { return view_disagreement(p, n, V, K); });
}
// combineMembers([Float32Array (n,K)...], n, K, {method, weights, stacking: {weights, intercepts, clamp}}, head)
val combine_members_value(val member_probs, int n, int K, val spec, std::string head) {
  return guarded([&] {
    const std::vector<std::vector<float>> probs = float_lists(member_probs, "member probs");
    std::vector<const float*> ptrs;
    for (const std::vector<float>& p : probs) {
      if (p.size() != static_cast<std::size_t>(n) * K) return error_value(ErrorCode::kInvalidArgument, "member probs are not (n,K)");
      ptrs.push_back(p.data());
    }
    EnsembleInfo e;
    e.method = spec["method"].isString() && spec["method"].as<std::string>() == "stacking" ? CombineMethod::kStacking
                                                                                            : CombineMethod::kSoft;
    const std::vector<double> weights = doubles_of(spec["weights"]);
    for (std::size_t m = 0; m < probs.size(); ++m) {
      EnsembleMember member;
      member.weight = m < weights.size() ? weights[m] : 1.0;
      e.members.push_back(member);
    }
    if (weights.size() != probs.size())
      for (EnsembleMember& member : e.members) member.weight = 1.0;
    if (e.method == CombineMethod::kStacking) {
      const val st = spec["stacking"];
      for (int o = 0; o < st["weights"]["length"].as<int>(); ++o) e.stacking.weights.push_back(doubles_of(st["weights"][o]));
      e.stacking.intercepts = doubles_of(st["intercepts"]);
      if (st["clamp"].isNumber()) e.stacking.clamp = st["clamp"].as<double>();
    }
    Result<std::vector<float>> out = combine_members(ptrs, n, K, head == "multiclass" ? HeadKind::kMulticlass : HeadKind::kBinary, e);
    if (!out) return error_value(out.error());
    return typed_copy("Float32Array", out.value().data(), out.value().size());
  });
}
val member_disagreement_value(val member_probs, int n, int K, val weights) {
  return guarded([&] {
    const std::vector<std::vector<float>> probs = float_lists(member_probs, "member probs");
    std::vector<const float*> ptrs;
    for (const std::vector<float>& p : probs) {
      if (p.size() != static_cast<std::size_t>(n) * K) return error_value(ErrorCode::kInvalidArgument, "member probs are not (n,K)");
      ptrs.push_back(p.data());
    }
    const std::vector<double> out = member_disagreement(ptrs, n, K, doubles_of(weights));
    return typed_copy("Float64Array", out.data(), out.size());
  });
}
// combineMemberCams([{data (K,h,w), h, w}...], K, weights) -> { data, h, w }
val combine_member_cams_value(val cams, int K, val weights) {
  return guarded([&] {
    std::vector<CamStack> members;
    for (int m = 0; m < cams["length"].as<int>(); ++m) {
      CamStack c;
      c.data = floats_of(cams[m]["data"], "data");
      c.height = cams[m]["h"].as<int>();
      c.width = cams[m]["w"].as<int>();
      members.push_back(c);
    }
    Result<CamStack> out = combine_member_cams(members, K, doubles_of(weights));
    if (!out) return error_value(out.error());
    val v = val::object();
    v.set("data", typed_copy("Float32Array", out.value().data.data(), out.value().data.size()));
    v.set("h", out.value().height);
    v.set("w", out.value().width);
    return v;
  });
}
// stitchTileCams(cams (T,K,h,w), K, camW, camH, tiles {items}, width, height, specJson) -> { ok, maps, mapW, mapH }
val stitch_tile_cams_value(val cams, int K, int cam_w, int cam_h, val tiles, int width, int height, std::string spec_json) {
  return guarded([&] {
    Result<PreprocessSpec> spec = parse_preprocess_spec(spec_json);
    if (!spec) return error_value(spec.error());
    const TileGrid grid = grid_from(tiles);
    const std::vector<float> c = floats_of(cams, "cams");
    if (c.size() != grid.tiles.size() * K * cam_w * cam_h) return error_value(ErrorCode::kInvalidArgument, "cams is not (T,K,h,w)");
    Result<StitchedMap> s = stitch_tile_cams(c.data(), K, cam_w, cam_h, grid, width, height, spec.value());
    if (!s) return error_value(s.error());
    val out = val::object();
    out.set("ok", true);
    out.set("maps", typed_copy("Float32Array", s.value().maps.data(), s.value().maps.size()));
    out.set("mapW", s.value().width);
    out.set("mapH", s.value().height);
    return out;
  });
}
}  // namespace

EMSCRIPTEN_BINDINGS(cellcam) {
  emscripten::function("version", &version);
  emscripten::function("csvCell", &csv_cell_value);
  emscripten::function("csvQuote", &csv_quote_value);
  emscripten::function("limits", &limits);
  emscripten::function("checkFileSize", &check_file_size_value);
  emscripten::function("probe", &probe);
  emscripten::function("probeTiff", &probe_tiff_value);
  emscripten::function("preprocess", &preprocess_bytes);
  emscripten::function("preprocessPixels", &preprocess_pixels);
  emscripten::function("parseSpec", &parse_spec);
  emscripten::function("tileGrid", &tile_grid_value);
  emscripten::function("canvasPlacement", &canvas_placement_value);
  emscripten::function("renderCam", &render_cam_value);
  emscripten::function("blendOverlay", &blend_overlay);
  emscripten::function("colormapTable", &colormap_table_value);
  emscripten::function("normalizeCam", &normalize_cam_value);
  emscripten::function("scaleCam", &scale_cam_value);
  emscripten::function("makeViews", &make_views_value);
  emscripten::function("averageViewProbs", &average_view_probs_value);
  emscripten::function("averageViewCams", &average_view_cams_value);
  emscripten::function("viewDisagreement", &view_disagreement_value);
  emscripten::function("combineMembers", &combine_members_value);
  emscripten::function("memberDisagreement", &member_disagreement_value);
  emscripten::function("combineMemberCams", &combine_member_cams_value);
  emscripten::function("stitchTileCams", &stitch_tile_cams_value);
  emscripten::class_<Model>("Model")
      .constructor<>()
      .function("load", &Model::load)
      .function("info", &Model::info)
      .function("checkGraph", &Model::check_graph)
      .function("preprocess", &Model::preprocess_bytes)
      .function("preprocessPixels", &Model::preprocess_pixels)
      .function("makeInput", &Model::make_input)
      .function("combine", &Model::combine)
      .function("decide", &Model::decide_value)
      .function("aggregateTiles", &Model::aggregate_tiles_value)
      .function("heatmap", &Model::heatmap);
}
