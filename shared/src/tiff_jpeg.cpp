// tiff_jpeg.cpp — JPEG-in-TIFF through stb_image, identical in both builds (see tiff_probe.h).
#include <algorithm>
#include <cstring>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <vector>

#include "cellcam/decode.h"
#include "cellcam/tiff_probe.h"
#include "jpeg_check.h"
#include "stb_config.h"

namespace cellcam {

Result<Image> decode_jpeg_tiff(const std::uint8_t* bytes, std::size_t size, const TiffInfo& info, const DecodeLimits& limits) {
  if (info.compression != 7) return make_error(ErrorCode::kInvalidArgument, "decode_jpeg_tiff: not a JPEG-compressed TIFF");
  const int channels = info.photometric == 1 ? 1 : 3;
  if ((channels == 1 && info.samples_per_pixel != 1) || (channels == 3 && info.samples_per_pixel != 3))
    return make_error(ErrorCode::kUnsupportedLayout, "JPEG-compressed TIFF with extra samples is not supported");
  Result<Image> made = make_image(info.width, info.height, channels, 8, limits);
  if (!made) return made;
  Image& image = made.value();

  // Tables: SOI, DQT/DHT..., EOI. Each chunk: SOI, SOF, SOS... EOI. Stream = tables - EOI + chunk - SOI.
  const std::uint8_t* tables = info.jpeg_tables_size >= 4 ? bytes + info.jpeg_tables_offset : nullptr;
  const std::size_t tables_len = tables ? static_cast<std::size_t>(info.jpeg_tables_size) - 2 : 0;
  const int chunk_w = info.tiled ? info.tile_width : info.width;
  const int chunk_h = info.tiled ? info.tile_height : info.rows_per_strip;
  const int across = info.tiled ? (info.width + chunk_w - 1) / chunk_w : 1;
  std::vector<std::uint8_t> stream;
  for (std::size_t k = 0; k < info.chunk_offsets.size(); ++k) {
    const std::uint8_t* chunk = bytes + info.chunk_offsets[k];
    const std::size_t len = static_cast<std::size_t>(info.chunk_byte_counts[k]);
    if (info.chunk_offsets[k] + len > size || len < 4 || chunk[0] != 0xFF || chunk[1] != 0xD8)
      return make_error(ErrorCode::kCorrupt, "corrupt TIFF (JPEG " + std::string(info.tiled ? "tile " : "strip ") +
                                                 std::to_string(k) + " does not start with a JPEG marker)");
    stream.clear();
    if (tables) {
      stream.insert(stream.end(), tables, tables + tables_len);
      stream.insert(stream.end(), chunk + 2, chunk + len);
    } else {
      stream.insert(stream.end(), chunk, chunk + len);
    }
    const int x0 = static_cast<int>(k % across) * chunk_w;
    const int y0 = static_cast<int>(k / across) * chunk_h;
    const int cols = std::min(chunk_w, info.width - x0);
    const int rows = std::min(chunk_h, info.height - y0);
    // The same structural checks as a stand-alone JPEG: stb must never see what they refuse.
    const Result<ImageInfo> checked = probe_image(stream.data(), stream.size(), limits);
    if (!checked)
      return make_error(checked.error().code, "corrupt TIFF (JPEG " + std::string(info.tiled ? "tile " : "strip ") +
                                                  std::to_string(k) + ": " + checked.error().message + ")");
    int w = 0, h = 0, c = 0;
    std::unique_ptr<std::uint8_t, void (*)(void*)> pixels(
        stbi_load_from_memory(stream.data(), static_cast<int>(stream.size()), &w, &h, &c, channels), stbi_image_free);
    if (!pixels)
      return make_error(ErrorCode::kCorrupt, "corrupt TIFF (JPEG " + std::string(info.tiled ? "tile " : "strip ") +
                                                 std::to_string(k) + ": " +
                                                 (stbi_failure_reason() ? stbi_failure_reason() : "undecodable") + ")");
    if (const std::optional<Error> bad = check_jpeg_stream(stream.data(), stream.size()))
      return make_error(bad->code, "corrupt TIFF (JPEG " + std::string(info.tiled ? "tile " : "strip ") + std::to_string(k) +
                                       ": " + bad->message + ")");
    if (w < cols || h < rows)
      return make_error(ErrorCode::kCorrupt, "corrupt TIFF (JPEG " + std::string(info.tiled ? "tile " : "strip ") +
                                                 std::to_string(k) + " is " + std::to_string(w) + "x" + std::to_string(h) +
                                                 ", smaller than its place in the image)");
    for (int r = 0; r < rows; ++r)
      std::memcpy(&image.samples[(static_cast<std::size_t>(y0 + r) * info.width + x0) * channels],
                  pixels.get() + static_cast<std::size_t>(r) * w * channels, static_cast<std::size_t>(cols) * channels);
  }
  return made;
}

}  // namespace cellcam
