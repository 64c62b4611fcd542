// bindings.cpp — embind bindings for the page and the node tests. Marshalling only: every function
// copies its inputs into C++ containers, calls cellcam_shared, and returns a plain JS object:
//   { ok: true, ... }  or  { ok: false, code: "truncated", message: "truncated PNG (...)" }.
// No exception reaches JavaScript (each entry point catches everything), and there is no global state.
#include <emscripten/bind.h>
#include <emscripten/val.h>

#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "cellcam/cam.h"
#include "cellcam/decode.h"
#include "cellcam/pixels.h"
#include "cellcam/preprocess.h"
#include "cellcam/spec.h"
#include "cellcam/tiff_probe.h"
#include "cellcam/tiling.h"
#include "cellcam/version.h"

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

val rgba_value(const Rgba8& image) {
  val out = val::object();
  out.set("width", image.width);
  out.set("height", image.height);
  out.set("data", typed_copy("Uint8ClampedArray", image.pixels.data(), image.pixels.size()));
  return out;
}

// Image -> { ok, source, tensor, shape, preview, thumbnail }.
val preprocess_value(const Image& image, const std::string& spec_json, const val& options) {
  Result<PreprocessSpec> spec = parse_preprocess_spec(spec_json);
  if (!spec) return error_value(spec.error());
  Result<Tensor> tensor = preprocess(image, spec.value());
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
  out.set("preview", rgba_value(tensor_preview(t, spec.value())));
  out.set("thumbnail", rgba_value(thumb.value()));
  // Tiles, as `cellcam preprocess --tile N --stride S` cuts them: options.tile > 0 and a side longer than
  // options.tileAbove (default: the tile size) -> tile_grid, crop_image and preprocess per tile:
  //   tiles: { columns, rows, items: [{x, y, width, height}], tensor: Float32Array (T,C,H,W) }
  // options.maxTiles (default 4096) bounds the memory a tiny tile size would take.
  const int tile = int_option(options, "tile", 0);
  const int tile_above = int_option(options, "tileAbove", tile);
  if (tile > 0 && (image.width > tile_above || image.height > tile_above)) {
    Result<TileGrid> grid = tile_grid(image.width, image.height, tile, int_option(options, "stride", tile));
    if (!grid) return error_value(grid.error());
    const std::size_t count = grid.value().tiles.size();
    const int max_tiles = int_option(options, "maxTiles", 4096);
    if (count > static_cast<std::size_t>(max_tiles > 0 ? max_tiles : 0))
      return error_value(ErrorCode::kTooLarge, std::to_string(image.width) + "x" + std::to_string(image.height) +
                                                   " image would be cut into " + std::to_string(count) + " tiles of " +
                                                   std::to_string(tile) + " px (at most " +
                                                   std::to_string(max_tiles) + "): use a larger tile");
    std::vector<float> all;
    all.reserve(count * t.data.size());
    val items = val::array();
    for (const Rect& r : grid.value().tiles) {
      Result<Image> crop = crop_image(image, r);
      if (!crop) return error_value(crop.error());
      Result<Tensor> tt = preprocess(crop.value(), spec.value());
      if (!tt) return error_value(tt.error());
      all.insert(all.end(), tt.value().data.begin(), tt.value().data.end());
      val item = val::object();
      item.set("x", r.x);
      item.set("y", r.y);
      item.set("width", r.width);
      item.set("height", r.height);
      items.call<void>("push", item);
    }
    val tiles = val::object();
    tiles.set("columns", grid.value().columns);
    tiles.set("rows", grid.value().rows);
    tiles.set("tile", tile);
    tiles.set("stride", int_option(options, "stride", tile));
    tiles.set("items", items);
    tiles.set("tensor", typed_copy("Float32Array", all.data(), all.size()));
    out.set("tiles", tiles);
  }
  return out;
}

// ---- entry points

std::string version() { return version_string(); }

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
    if (!is_byte_view(bytes)) return error_value(ErrorCode::kInvalidArgument, kNotBytes);
    const std::vector<std::uint8_t> b = to_bytes(bytes);
    Result<Image> image = decode_image(b.data(), b.size(), limits_from(options));
    if (!image) return error_value(image.error());
    val out = preprocess_value(image.value(), spec_json, options);
    if (out["ok"].as<bool>()) out.set("format", std::string(format_name(sniff_format(b.data(), b.size()))));
    return out;
  });
}

// preprocessPixels({width, height, channels, bits, data, layout?, colormap?}, specJson, options?)
// layout: "direct" (default) | "min-is-white" | "palette"; data: Uint8Array (8-bit) or Uint16Array (16-bit).
val preprocess_pixels(val pixels, std::string spec_json, val options) {
  return guarded([&] {
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
    return preprocess_value(image.value(), spec_json, options);
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
    for (const Rect& r : grid.value().tiles) {
      val t = val::object();
      t.set("x", r.x);
      t.set("y", r.y);
      t.set("width", r.width);
      t.set("height", r.height);
      tiles.call<void>("push", t);
    }
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

// renderCam({cam, camWidth, camHeight, width, height, rgba, colormap?, alpha?, heatmapOnly?}, specJson)
//   cam: Float32Array (camHeight,camWidth), the raw map over the spec's canvas; rgba: the original image,
//   (height,width,4) Uint8Array or Uint8ClampedArray; colormap "jet" (default) | "viridis"; alpha: the
//   colour's weight, default 0.5.
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
    if (heatmap_only) {
      Result<CamRendering> heat = render_heatmap(cam.data(), cam_w, cam_h, width, height, spec.value(), colormap.value());
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
    Result<CamRendering> r = render_cam(image, cam.data(), cam_w, cam_h, spec.value(), colormap.value(), alpha);
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

}  // namespace

EMSCRIPTEN_BINDINGS(cellcam) {
  emscripten::function("version", &version);
  emscripten::function("probe", &probe);
  emscripten::function("probeTiff", &probe_tiff_value);
  emscripten::function("preprocess", &preprocess_bytes);
  emscripten::function("preprocessPixels", &preprocess_pixels);
  emscripten::function("parseSpec", &parse_spec);
  emscripten::function("tileGrid", &tile_grid_value);
  emscripten::function("canvasPlacement", &canvas_placement_value);
  emscripten::function("renderCam", &render_cam_value);
}
