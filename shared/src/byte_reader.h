// byte_reader.h — bounds-checked big/little-endian reads over a byte span (private to shared/src).
#pragma once

#include <cstddef>
#include <cstdint>

namespace cellcam {

struct ByteSpan {
  const std::uint8_t* data;
  std::size_t size;

  bool has(std::size_t offset, std::size_t count) const { return offset <= size && count <= size - offset; }
  std::uint8_t u8(std::size_t o) const { return data[o]; }
  std::uint16_t be16(std::size_t o) const { return static_cast<std::uint16_t>(data[o] << 8 | data[o + 1]); }
  std::uint16_t le16(std::size_t o) const { return static_cast<std::uint16_t>(data[o + 1] << 8 | data[o]); }
  std::uint32_t be32(std::size_t o) const {
    return static_cast<std::uint32_t>(data[o]) << 24 | static_cast<std::uint32_t>(data[o + 1]) << 16 |
           static_cast<std::uint32_t>(data[o + 2]) << 8 | data[o + 3];
  }
  std::uint32_t le32(std::size_t o) const {
    return static_cast<std::uint32_t>(data[o + 3]) << 24 | static_cast<std::uint32_t>(data[o + 2]) << 16 |
           static_cast<std::uint32_t>(data[o + 1]) << 8 | data[o];
  }
  std::uint64_t le64(std::size_t o) const {
    return static_cast<std::uint64_t>(le32(o + 4)) << 32 | le32(o);
  }
  std::uint64_t be64(std::size_t o) const {
    return static_cast<std::uint64_t>(be32(o)) << 32 | be32(o + 4);
  }
};

}  // namespace cellcam
