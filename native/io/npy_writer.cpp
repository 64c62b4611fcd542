// npy_writer.cpp — see npy_writer.h.
#include "npy_writer.h"

#include <cstdint>
#include <sstream>

#include "file_io.h"

namespace cellcam::native {

Result<bool> write_npy(const std::string& path, const std::vector<int>& shape, const float* data, std::size_t count) {
  std::ostringstream header;
  header << "{'descr': '<f4', 'fortran_order': False, 'shape': (";
  for (std::size_t i = 0; i < shape.size(); ++i) header << shape[i] << (shape.size() == 1 || i + 1 < shape.size() ? ", " : "");
  header << "), }";
  std::string h = header.str();
  // magic(6) + version(2) + header length(2) + header, padded with spaces to a multiple of 64, ending in \n.
  const std::size_t unpadded = 10 + h.size() + 1;
  h.append((64 - unpadded % 64) % 64, ' ');
  h += '\n';
  std::string bytes("\x93NUMPY\x01\x00", 8);
  bytes += static_cast<char>(h.size() & 0xff);
  bytes += static_cast<char>(h.size() >> 8);
  bytes += h;
  static_assert(sizeof(float) == 4, "float32");
  const std::uint16_t probe = 1;
  if (*reinterpret_cast<const std::uint8_t*>(&probe) != 1)
    return make_error(ErrorCode::kInternal, ".npy writer assumes a little-endian host");
  bytes.append(reinterpret_cast<const char*>(data), count * sizeof(float));
  return write_bytes_atomically(path, bytes.data(), bytes.size());
}

Result<bool> write_npy(const std::string& path, const Tensor& t) {
  return write_npy(path, {t.channels, t.height, t.width}, t.data.data(), t.data.size());
}

}  // namespace cellcam::native
