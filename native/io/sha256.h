// sha256.h — SHA-256 of bytes as lower-case hex (OpenSSL): what model.json records for each ONNX file and
// what every reader of a model folder checks before trusting it.
#pragma once

#include <string>

namespace cellcam::native {

std::string sha256_hex(const std::string& bytes);

}  // namespace cellcam::native
