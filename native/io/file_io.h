// file_io.h — whole files in and out for the native build: read bytes, text or a JSON object, find the
// image files a user named, and write files atomically (a temporary file, then a rename), so a reader
// never sees half a file. No LibTorch, no decoding (decode_any.h), no encoders (npy_writer.h, png_writer.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cellcam/error.h"

namespace cellcam::native {

Result<std::vector<std::uint8_t>> read_file(const std::string& path);
Result<std::string> read_text(const std::string& path);
// A JSON file whose top level is an object (config.json, report.json, calibration.json): read_file's
// error when it cannot be read, kCorrupt "PATH is not a JSON object" when it does not parse as one.
Result<nlohmann::json> read_json_object(const std::string& path);

// The files a user named: files as given (a misnamed or missing file deserves its own error row),
// folders searched recursively for image extensions (.png .jpg .jpeg .bmp .gif .tga .tif .tiff), sorted.
std::vector<std::string> collect_image_files(const std::vector<std::string>& inputs);

// Writes through `path + ".tmp"` and renames (the temporary file is removed when the rename fails).
Result<bool> write_bytes_atomically(const std::string& path, const void* data, std::size_t size);
Result<bool> write_text_atomically(const std::string& path, const std::string& text);

}  // namespace cellcam::native
