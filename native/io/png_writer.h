// png_writer.h — the one PNG writer of the native build (stb_image_write lives in png_writer.cpp only):
// previews (preprocess), Grad-CAM heatmaps and overlays (gradcam) and report figures (report/plot.h)
// all go through write_png. Files are written atomically (file_io.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cellcam/error.h"
#include "cellcam/image.h"

namespace cellcam::native {

// Interleaved 8-bit samples, `channels` (1-4) per pixel, `stride` bytes a row -> PNG file bytes.
Result<std::vector<std::uint8_t>> encode_png(int width, int height, int channels, const std::uint8_t* samples, int stride);

Result<bool> write_png(const std::string& path, int width, int height, int channels, const std::uint8_t* samples, int stride);
Result<bool> write_png(const std::string& path, const Rgba8& image);  // 8-bit RGBA
Result<bool> write_png(const std::string& path, const Image& image);  // 8-bit, 1-4 channels

}  // namespace cellcam::native
