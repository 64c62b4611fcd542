// file_io.h — whole files in and out for the native build: read bytes, text or a JSON object, find the
// image files a user named, and write files atomically (a temporary file, then a rename), so a reader
// never sees half a file. No LibTorch, no decoding (decode_any.h), no encoders (npy_writer.h, png_writer.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cellcam/error.h"

namespace cellcam::native {

Result<std::vector<std::uint8_t>> read_file(const std::string& path);
// An image file: read_file, after its size is checked against the page's limit (cellcam/limits.h), so a
// 5 GB file is one error row, not 5 GB of memory.
Result<std::vector<std::uint8_t>> read_image_file(const std::string& path);
Result<std::string> read_text(const std::string& path);
// A JSON file whose top level is an object (config.json, report.json, calibration.json): read_file's
// error when it cannot be read, kCorrupt "PATH is not a JSON object" when it does not parse as one.
Result<nlohmann::json> read_json_object(const std::string& path);

// The files a user named: files as given (a misnamed or missing file deserves its own error row),
// folders searched recursively for image extensions (.png .jpg .jpeg .bmp .gif .tga .tif .tiff), sorted.
std::vector<std::string> collect_image_files(const std::vector<std::string>& inputs);

// Writes through `path + ".tmp"` and renames. Every failure (a full disk shows at flush or close) is an
// error naming the file, and leaves the previous file as it was and no temporary file behind.
Result<bool> write_bytes_atomically(const std::string& path, const void* data, std::size_t size);
// Several files that belong together (a checkpoint and its state): every temporary file is written
// before any is renamed, so a failed write replaces none of them.
Result<bool> write_files_atomically(const std::vector<std::pair<std::string, std::string_view>>& files);
Result<bool> write_text_atomically(const std::string& path, const std::string& text);

// An output folder a command is about to fill: missing or empty is fine; one that already holds what the
// command writes (any of `markers`, e.g. a run's config.json) is refused unless `force`, with `hint`
// saying what to do instead; any other non-empty folder is refused even with `force` (--force replaces a
// run or a model folder, never a folder of someone's files).
Result<bool> check_output_folder(const std::string& folder, bool force, const std::vector<std::string>& markers,
                                 const std::string& kind, const std::string& hint);

// Puts a fully written `staging` folder in the place of `target` (which may exist): the old folder is
// moved aside, the new one renamed in, the old one removed; a reader sees the old folder or the new one.
Result<bool> replace_folder(const std::string& staging, const std::string& target);

// "models/x/" -> "models/x": a folder name to which ".partial" can be appended.
std::string without_trailing_separators(const std::string& path);

}  // namespace cellcam::native
