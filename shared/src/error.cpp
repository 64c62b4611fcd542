// error.cpp — names of error codes (stable: they appear in CSV/JSON exports).
#include "cellcam/error.h"

namespace cellcam {

const char* error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kEmptyInput: return "empty_input";
    case ErrorCode::kNotAnImage: return "not_an_image";
    case ErrorCode::kUnsupportedFormat: return "unsupported_format";
    case ErrorCode::kUnsupportedCompression: return "unsupported_compression";
    case ErrorCode::kUnsupportedLayout: return "unsupported_layout";
    case ErrorCode::kTruncated: return "truncated";
    case ErrorCode::kCorrupt: return "corrupt";
    case ErrorCode::kTooLarge: return "too_large";
    case ErrorCode::kInvalidArgument: return "invalid_argument";
    case ErrorCode::kInvalidSpec: return "invalid_spec";
    case ErrorCode::kIo: return "io";
    case ErrorCode::kOutOfMemory: return "out_of_memory";
    case ErrorCode::kInternal: return "internal";
  }
  return "internal";
}

}  // namespace cellcam
