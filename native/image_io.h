// image_io.h — files in and out for the native build: read bytes, decode any supported format
// (TIFF through libtiff, the rest through shared/), write tensors as .npy and previews as PNG.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cellcam/decode.h"
#include "cellcam/error.h"
#include "cellcam/image.h"
#include "cellcam/preprocess.h"

namespace cellcam::native {

Result<std::vector<std::uint8_t>> read_file(const std::string& path);
// A JSON file whose top level is an object (config.json, report.json, calibration.json): read_file's
// error when it cannot be read, kCorrupt "PATH is not a JSON object" when it does not parse as one.
Result<nlohmann::json> read_json_object(const std::string& path);

// The files a user named: files as given (a misnamed or missing file deserves its own error row),
// folders searched recursively for image extensions (.png .jpg .jpeg .bmp .gif .tga .tif .tiff), sorted.
std::vector<std::string> collect_image_files(const std::vector<std::string>& inputs);

// Bytes of any supported format -> Image. TIFF goes to libtiff, everything else to decode_image().
Result<Image> decode_any(const std::uint8_t* bytes, std::size_t size, const DecodeLimits& limits = {});

// NumPy .npy v1.0, little-endian float32, C order, shape (C,H,W). Written to a temporary file, then renamed.
Result<bool> write_npy(const std::string& path, const Tensor& tensor);
// Any shape, e.g. (N,C,h,w); `count` floats.
Result<bool> write_npy(const std::string& path, const std::vector<int>& shape, const float* data, std::size_t count);

// 8-bit RGBA PNG (stb_image_write). Written to a temporary file, then renamed.
Result<bool> write_png(const std::string& path, const Rgba8& image);
Result<bool> write_png(const std::string& path, const Image& image);  // 8-bit, 1-4 channels

// Writes `text` to `path` through a temporary file and a rename.
Result<bool> write_text_atomically(const std::string& path, const std::string& text);

}  // namespace cellcam::native
