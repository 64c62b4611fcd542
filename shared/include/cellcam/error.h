// error.h — typed errors and Result<T> for everything in shared/.
//
// Convention: no function in shared/ lets an exception escape and none aborts. A failure is an Error
// with a code a program can branch on and a message a person understands, e.g.
//   "not an image (bytes start with %PDF-1.4)", "truncated PNG", "TIFF compression ZSTD is not supported",
//   "image 40000x40000 exceeds the 25000 px limit".
// The messages are part of the interface: the CLI prints them and the page shows them in error rows.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace cellcam {

enum class ErrorCode {
  kEmptyInput,              // zero bytes
  kNotAnImage,              // no known image signature
  kUnsupportedFormat,       // a known format cellcam does not read (WebP, HEIC, PDF, ...)
  kUnsupportedCompression,  // TIFF compression outside the supported list
  kUnsupportedLayout,       // bit depth, sample count or photometric cellcam does not read
  kTruncated,               // the file ends before its own structure says it should
  kCorrupt,                 // structure present but invalid
  kTooLarge,                // declared dimensions beyond DecodeLimits
  kInvalidArgument,         // a caller passed inconsistent values (pixel buffer size, tile size, ...)
  kInvalidSpec,             // a model spec JSON that does not validate
  kIo,                      // file system (native only)
  kOutOfMemory,
  kInternal,
};

// Stable snake_case name, e.g. "truncated"; used in CSV/JSON output and by the page.
const char* error_code_name(ErrorCode code);

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;
};

// A value or an Error. Deliberately small: ok(), value(), error(), and take() to move the value out.
template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}          // NOLINT: implicit on purpose
  Result(Error error) : v_(std::move(error)) {}      // NOLINT
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  const T& value() const { return std::get<0>(v_); }
  T& value() { return std::get<0>(v_); }
  T take() { return std::move(std::get<0>(v_)); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

inline Error make_error(ErrorCode code, std::string message) { return Error{code, std::move(message)}; }

}  // namespace cellcam
