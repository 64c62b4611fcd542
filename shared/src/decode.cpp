// decode.cpp — format sniffing, structural probes (dimensions before allocation, truncation) and
// stb_image decoding for PNG, JPEG, BMP, GIF and TGA.
#include "cellcam/decode.h"

#include <cstring>
#include <memory>
#include <new>
#include <optional>
#include <string>

#include "byte_reader.h"
#include "cellcam/tiff_probe.h"
#include "jpeg_check.h"
#include "stb_config.h"

namespace cellcam {
namespace {

bool starts_with(ByteSpan b, const char* magic, std::size_t n, std::size_t at = 0) {
  return b.has(at, n) && std::memcmp(b.data + at, magic, n) == 0;
}

Error truncated(ImageFormat f, const std::string& detail) {
  return make_error(ErrorCode::kTruncated, std::string("truncated ") + format_name(f) + " (" + detail + ")");
}

// What the first bytes look like, for "not an image (bytes start with ...)".
std::string describe_prefix(ByteSpan b) {
  const std::size_t n = b.size < 8 ? b.size : 8;
  bool printable = true;
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned char c = b.data[i];
    if (c < 0x20 || c > 0x7e) printable = false;
  }
  std::string out;
  if (printable) {
    out.assign(reinterpret_cast<const char*>(b.data), n);
    while (!out.empty() && out.back() == ' ') out.pop_back();
  } else {
    static const char* hex = "0123456789abcdef";
    for (std::size_t i = 0; i < n; ++i) {
      if (i) out += ' ';
      out += hex[b.data[i] >> 4];
      out += hex[b.data[i] & 15];
    }
  }
  return out;
}

// Known formats that are not images cellcam reads: a named refusal beats "not an image".
const char* known_unsupported(ByteSpan b) {
  if (starts_with(b, "%PDF", 4)) return nullptr;  // a document, reported as "not an image"
  if (starts_with(b, "RIFF", 4) && starts_with(b, "WEBP", 4, 8)) return "WebP";
  if (starts_with(b, "ftyp", 4, 4) && (starts_with(b, "heic", 4, 8) || starts_with(b, "heix", 4, 8) ||
                                       starts_with(b, "mif1", 4, 8)))
    return "HEIF/HEIC";
  if (starts_with(b, "ftypavif", 8, 4)) return "AVIF";
  if (starts_with(b, "\x00\x00\x00\x0cjP  ", 8)) return "JPEG 2000";
  if (starts_with(b, "DICM", 4, 128)) return "DICOM";
  if (starts_with(b, "\x76\x2f\x31\x01", 4)) return "OpenEXR";
  if (starts_with(b, "8BPS", 4)) return "Photoshop (PSD)";
  if (starts_with(b, "\xff\x0a", 2)) return "JPEG XL";
  return nullptr;
}

// ---------------------------------------------------------------------------------------------
// PNG: walk the chunks; IHDR gives the size, the file must reach IEND.
Result<ImageInfo> probe_png(ByteSpan b, const DecodeLimits& limits) {
  ImageInfo info{ImageFormat::kPng, 0, 0, 0, 8};
  std::size_t pos = 8;
  bool seen_ihdr = false;
  while (true) {
    if (!b.has(pos, 8)) return truncated(ImageFormat::kPng, "no IEND chunk, file ends at byte " + std::to_string(b.size));
    const std::uint32_t length = b.be32(pos);
    const std::string type(reinterpret_cast<const char*>(b.data + pos + 4), 4);
    if (length > 0x7fffffffu) return make_error(ErrorCode::kCorrupt, "corrupt PNG (chunk length out of range)");
    if (!seen_ihdr) {
      if (type != "IHDR" || length != 13) return make_error(ErrorCode::kCorrupt, "corrupt PNG (first chunk is not IHDR)");
      if (!b.has(pos + 8, 13)) return truncated(ImageFormat::kPng, "ends inside IHDR");
      info.width = static_cast<int>(b.be32(pos + 8) > 0x7fffffffu ? 0x7fffffff : b.be32(pos + 8));
      info.height = static_cast<int>(b.be32(pos + 12) > 0x7fffffffu ? 0x7fffffff : b.be32(pos + 12));
      Error error;
      if (!check_dimensions(b.be32(pos + 8), b.be32(pos + 12), limits, &error)) return error;
      info.bits = b.u8(pos + 16);
      switch (b.u8(pos + 17)) {
        case 0: info.channels = 1; break;
        case 2: info.channels = 3; break;
        case 3: info.channels = 3; info.bits = 8; break;
        case 4: info.channels = 2; break;
        case 6: info.channels = 4; break;
        default: return make_error(ErrorCode::kCorrupt, "corrupt PNG (unknown colour type)");
      }
      seen_ihdr = true;
    }
    if (!b.has(pos + 8, static_cast<std::size_t>(length) + 4))
      return truncated(ImageFormat::kPng, "chunk " + type + " needs " + std::to_string(length) + " bytes, file ends at byte " +
                                              std::to_string(b.size));
    pos += 12 + static_cast<std::size_t>(length);
    if (type == "IEND") return info;
  }
}

// ---------------------------------------------------------------------------------------------
// JPEG: walk the markers to EOI, skipping entropy-coded data after each SOS; SOFn gives the size.
Result<ImageInfo> probe_jpeg(ByteSpan b, const DecodeLimits& limits) {
  ImageInfo info{ImageFormat::kJpeg, 0, 0, 0, 8};
  std::size_t pos = 2;
  bool seen_sof = false, progressive = false;
  unsigned dc_tables = 0, ac_tables = 0;  // bit i: Huffman table i has been defined
  while (true) {
    // Find the next marker (0xFF followed by a non-fill byte).
    if (!b.has(pos, 2)) return truncated(ImageFormat::kJpeg, "no end-of-image marker");
    if (b.u8(pos) != 0xFF) return make_error(ErrorCode::kCorrupt, "corrupt JPEG (expected a marker at byte " + std::to_string(pos) + ")");
    std::uint8_t marker = b.u8(pos + 1);
    while (marker == 0xFF) {
      ++pos;
      if (!b.has(pos, 2)) return truncated(ImageFormat::kJpeg, "no end-of-image marker");
      marker = b.u8(pos + 1);
    }
    pos += 2;
    if (marker == 0xD9) break;                                   // EOI
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) continue;  // no length
    if (!b.has(pos, 2)) return truncated(ImageFormat::kJpeg, "ends inside a marker");
    const std::size_t length = b.be16(pos);
    if (length < 2) return make_error(ErrorCode::kCorrupt, "corrupt JPEG (marker length below 2)");
    if (!b.has(pos, length)) return truncated(ImageFormat::kJpeg, "a segment runs past the end of the file");
    const bool sof = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
    if (sof && !seen_sof) {
      if (length < 8) return make_error(ErrorCode::kCorrupt, "corrupt JPEG (short frame header)");
      info.bits = b.u8(pos + 2);
      info.height = b.be16(pos + 3);
      info.width = b.be16(pos + 5);
      info.channels = b.u8(pos + 7);
      if (info.height == 0) return make_error(ErrorCode::kUnsupportedLayout, "JPEG with the height defined later (DNL) is not supported");
      Error error;
      if (!check_dimensions(info.width, info.height, limits, &error)) return error;
      if (marker != 0xC0 && marker != 0xC1 && marker != 0xC2)
        return make_error(ErrorCode::kUnsupportedFormat, "lossless, hierarchical or arithmetic-coded JPEG is not supported");
      seen_sof = true;
      progressive = marker == 0xC2;
    }
    if (marker == 0xC4) {
      // DHT: stb_image 2.27 writes past its tables when one declares more than 256 codes.
      std::size_t p = pos + 2;
      while (p < pos + length) {
        if (!b.has(p, 17) || p + 17 > pos + length) return make_error(ErrorCode::kCorrupt, "corrupt JPEG (short Huffman table)");
        const std::uint8_t id = b.u8(p);
        if ((id >> 4) > 1 || (id & 15) > 3) return make_error(ErrorCode::kCorrupt, "corrupt JPEG (bad Huffman table id)");
        std::size_t codes = 0;
        for (int i = 1; i <= 16; ++i) codes += b.u8(p + i);
        if (codes > 256) return make_error(ErrorCode::kCorrupt, "corrupt JPEG (Huffman table with more than 256 codes)");
        ((id >> 4) == 0 ? dc_tables : ac_tables) |= 1u << (id & 15);
        p += 17 + codes;
      }
      if (p != pos + length) return make_error(ErrorCode::kCorrupt, "corrupt JPEG (Huffman table length mismatch)");
    }
    if (marker == 0xDA) {
      // SOS: stb_image 2.27 decodes with whatever memory an undefined Huffman table holds, and reads
      // out of bounds doing so. Every table a scan will use must have been defined before it.
      if (!seen_sof) return make_error(ErrorCode::kCorrupt, "corrupt JPEG (scan before the frame header)");
      const std::size_t components = b.u8(pos + 2);
      if (components < 1 || components > 4 || length < 6 + 2 * components)
        return make_error(ErrorCode::kCorrupt, "corrupt JPEG (bad scan header)");
      const std::uint8_t ss = b.u8(pos + 3 + 2 * components), se = b.u8(pos + 4 + 2 * components);
      const std::uint8_t ah = b.u8(pos + 5 + 2 * components) >> 4;
      const bool uses_dc = !progressive || (ss == 0 && ah == 0);
      const bool uses_ac = !progressive || ss > 0 || se > 0;
      for (std::size_t k = 0; k < components; ++k) {
        const std::uint8_t tables = b.u8(pos + 4 + 2 * k);
        if ((uses_dc && !(dc_tables >> (tables >> 4) & 1u)) || (uses_ac && !(ac_tables >> (tables & 15) & 1u)))
          return make_error(ErrorCode::kCorrupt, "corrupt JPEG (a scan uses a Huffman table that was never defined)");
      }
    }
    pos += length;
    if (marker == 0xDA) {
      // Entropy-coded data: runs until 0xFF followed by neither 0x00 (stuffing) nor RSTn.
      while (true) {
        if (!b.has(pos, 2)) return truncated(ImageFormat::kJpeg, "image data ends without an end-of-image marker");
        if (b.u8(pos) == 0xFF) {
          const std::uint8_t next = b.u8(pos + 1);
          if (next != 0x00 && next != 0xFF && !(next >= 0xD0 && next <= 0xD7)) break;
          if (next == 0xFF) { ++pos; continue; }
          pos += 2;
          continue;
        }
        ++pos;
      }
    }
  }
  if (!seen_sof) return make_error(ErrorCode::kCorrupt, "corrupt JPEG (no frame header)");
  return info;
}

// ---------------------------------------------------------------------------------------------
// BMP: header fields; uncompressed pixel data must fit in the file.
Result<ImageInfo> probe_bmp(ByteSpan b, const DecodeLimits& limits) {
  ImageInfo info{ImageFormat::kBmp, 0, 0, 3, 8};
  if (!b.has(0, 26)) return truncated(ImageFormat::kBmp, "ends inside the header");
  const std::uint32_t data_offset = b.le32(10);
  const std::uint32_t header_size = b.le32(14);
  long long width, height;
  int bpp;
  std::uint32_t compression = 0;
  if (header_size == 12) {
    width = b.le16(18);
    height = b.le16(20);
    bpp = b.le16(24);
  } else {
    if (!b.has(0, 34)) return truncated(ImageFormat::kBmp, "ends inside the header");
    width = static_cast<std::int32_t>(b.le32(18));
    height = static_cast<std::int32_t>(b.le32(22));
    bpp = b.le16(28);
    compression = b.le32(30);
  }
  if (height < 0) height = -height;
  Error error;
  if (!check_dimensions(width, height, limits, &error)) return error;
  info.width = static_cast<int>(width);
  info.height = static_cast<int>(height);
  info.channels = bpp == 32 ? 4 : 3;
  if (compression == 0 || compression == 3) {
    const unsigned long long row = ((static_cast<unsigned long long>(bpp) * width + 31) / 32) * 4;
    const unsigned long long needed = data_offset + row * height;
    if (needed > b.size)
      return truncated(ImageFormat::kBmp, "pixel data needs " + std::to_string(needed) + " bytes, file has " + std::to_string(b.size));
  }
  return info;
}

// ---------------------------------------------------------------------------------------------
// GIF: logical screen size; walk blocks until the first image's data ends.
Result<ImageInfo> probe_gif(ByteSpan b, const DecodeLimits& limits) {
  ImageInfo info{ImageFormat::kGif, 0, 0, 4, 8};
  if (!b.has(0, 13)) return truncated(ImageFormat::kGif, "ends inside the header");
  info.width = b.le16(6);
  info.height = b.le16(8);
  Error error;
  if (!check_dimensions(info.width, info.height, limits, &error)) return error;
  std::size_t pos = 13;
  const std::uint8_t flags = b.u8(10);
  if (flags & 0x80) pos += 3u * (1u << ((flags & 7) + 1));
  auto skip_sub_blocks = [&](std::size_t& p) -> bool {
    while (true) {
      if (!b.has(p, 1)) return false;
      const std::uint8_t n = b.u8(p);
      p += 1;
      if (n == 0) return true;
      p += n;
    }
  };
  while (true) {
    if (!b.has(pos, 1)) return truncated(ImageFormat::kGif, "ends before the first frame");
    const std::uint8_t block = b.u8(pos);
    if (block == 0x21) {
      pos += 2;
      if (!skip_sub_blocks(pos)) return truncated(ImageFormat::kGif, "ends inside an extension block");
    } else if (block == 0x2C) {
      if (!b.has(pos, 10)) return truncated(ImageFormat::kGif, "ends inside the first frame's descriptor");
      const std::uint8_t frame_flags = b.u8(pos + 9);
      pos += 10;
      if (frame_flags & 0x80) pos += 3u * (1u << ((frame_flags & 7) + 1));
      pos += 1;  // LZW minimum code size
      if (!skip_sub_blocks(pos)) return truncated(ImageFormat::kGif, "ends inside the first frame's data");
      return info;
    } else if (block == 0x3B) {
      return make_error(ErrorCode::kCorrupt, "corrupt GIF (no frames)");
    } else {
      return make_error(ErrorCode::kCorrupt, "corrupt GIF (unknown block type at byte " + std::to_string(pos) + ")");
    }
  }
}

// ---------------------------------------------------------------------------------------------
// TGA has no signature: accept only a plausible header (as stb's own test does), then check sizes.
bool looks_like_tga(ByteSpan b) {
  if (!b.has(0, 18)) return false;
  const std::uint8_t cmap_type = b.u8(1), type = b.u8(2), bpp = b.u8(16);
  if (cmap_type > 1) return false;
  const bool known_type = type == 1 || type == 2 || type == 3 || type == 9 || type == 10 || type == 11;
  if (!known_type) return false;
  if ((type == 1 || type == 9) != (cmap_type == 1)) return false;
  if (cmap_type == 1) {
    const int cmap_bpp = b.u8(7);
    if (cmap_bpp != 15 && cmap_bpp != 16 && cmap_bpp != 24 && cmap_bpp != 32) return false;
    if (bpp != 8 && bpp != 16) return false;
  } else if (bpp != 8 && bpp != 15 && bpp != 16 && bpp != 24 && bpp != 32) {
    return false;
  }
  return b.le16(12) > 0 && b.le16(14) > 0;
}

Result<ImageInfo> probe_tga(ByteSpan b, const DecodeLimits& limits) {
  ImageInfo info{ImageFormat::kTga, b.le16(12), b.le16(14), 0, 8};
  Error error;
  if (!check_dimensions(info.width, info.height, limits, &error)) return error;
  const std::uint8_t type = b.u8(2), bpp = b.u8(16);
  info.channels = (type == 3 || type == 11) ? 1 : (bpp == 32 ? 4 : 3);
  if (type <= 3) {
    const std::size_t cmap_bytes = b.u8(1) ? static_cast<std::size_t>(b.le16(5)) * ((b.u8(7) + 7) / 8) : 0;
    const unsigned long long needed =
        18ull + b.u8(0) + cmap_bytes + static_cast<unsigned long long>(info.width) * info.height * ((bpp + 7) / 8);
    if (needed > b.size)
      return truncated(ImageFormat::kTga, "pixel data needs " + std::to_string(needed) + " bytes, file has " + std::to_string(b.size));
  }
  return info;
}

}  // namespace

const char* format_name(ImageFormat format) {
  switch (format) {
    case ImageFormat::kPng: return "PNG";
    case ImageFormat::kJpeg: return "JPEG";
    case ImageFormat::kBmp: return "BMP";
    case ImageFormat::kGif: return "GIF";
    case ImageFormat::kTga: return "TGA";
    case ImageFormat::kTiff: return "TIFF";
    case ImageFormat::kUnknown: break;
  }
  return "unknown";
}

ImageFormat sniff_format(const std::uint8_t* bytes, std::size_t size) {
  const ByteSpan b{bytes, size};
  if (starts_with(b, "\x89PNG\r\n\x1a\n", 8)) return ImageFormat::kPng;
  if (starts_with(b, "\xff\xd8\xff", 3)) return ImageFormat::kJpeg;
  if (starts_with(b, "GIF87a", 6) || starts_with(b, "GIF89a", 6)) return ImageFormat::kGif;
  if (starts_with(b, "BM", 2) && b.has(0, 18)) {
    const std::uint32_t header_size = b.le32(14);
    if (header_size == 12 || header_size == 40 || header_size == 52 || header_size == 56 || header_size == 108 ||
        header_size == 124)
      return ImageFormat::kBmp;
  }
  if (starts_with(b, "II*\0", 4) || starts_with(b, "MM\0*", 4) || starts_with(b, "II+\0", 4) ||
      starts_with(b, "MM\0+", 4))
    return ImageFormat::kTiff;
  return ImageFormat::kUnknown;
}

Result<ImageInfo> probe_image(const std::uint8_t* bytes, std::size_t size, const DecodeLimits& limits) {
  const ByteSpan b{bytes, size};
  if (size == 0 || bytes == nullptr) return make_error(ErrorCode::kEmptyInput, "empty file (0 bytes)");
  switch (sniff_format(bytes, size)) {
    case ImageFormat::kPng: return probe_png(b, limits);
    case ImageFormat::kJpeg: return probe_jpeg(b, limits);
    case ImageFormat::kBmp: return probe_bmp(b, limits);
    case ImageFormat::kGif: return probe_gif(b, limits);
    case ImageFormat::kTiff: {
      Result<TiffInfo> tiff = probe_tiff(bytes, size, limits);
      if (!tiff) return tiff.error();
      const TiffInfo& t = tiff.value();
      return ImageInfo{ImageFormat::kTiff, t.width, t.height, tiff_output_channels(t), t.bits_per_sample};
    }
    case ImageFormat::kTga:
    case ImageFormat::kUnknown: break;
  }
  if (const char* name = known_unsupported(b))
    return make_error(ErrorCode::kUnsupportedFormat,
                      std::string(name) + " images are not supported (PNG, JPEG, TIFF, BMP, GIF and TGA are)");
  if (looks_like_tga(b)) return probe_tga(b, limits);
  if (size < 8) return make_error(ErrorCode::kNotAnImage, "not an image (only " + std::to_string(size) + " bytes)");
  return make_error(ErrorCode::kNotAnImage, "not an image (bytes start with " + describe_prefix(b) + ")");
}

Result<Image> decode_image(const std::uint8_t* bytes, std::size_t size, const DecodeLimits& limits) {
  if (sniff_format(bytes, size) == ImageFormat::kTiff) {
    Result<TiffInfo> tiff = probe_tiff(bytes, size, limits);
    if (!tiff) return tiff.error();
    if (tiff.value().compression == 7) return decode_jpeg_tiff(bytes, size, tiff.value(), limits);
    return make_error(ErrorCode::kUnsupportedFormat,
                      "TIFF pixels come from the TIFF reader of the native build or of the page, not from decode_image()");
  }
  Result<ImageInfo> probed = probe_image(bytes, size, limits);
  if (!probed) return probed.error();
  const ImageInfo& info = probed.value();
  if (size > 0x7fffffffu) return make_error(ErrorCode::kTooLarge, "file larger than 2 GB");
  const int len = static_cast<int>(size);

  int width = 0, height = 0, channels = 0;
  if (!stbi_info_from_memory(bytes, len, &width, &height, &channels))
    return make_error(ErrorCode::kCorrupt, std::string("corrupt ") + format_name(info.format) + " (" +
                                                (stbi_failure_reason() ? stbi_failure_reason() : "unreadable header") + ")");
  Error error;
  if (!check_dimensions(width, height, limits, &error)) return error;
  const bool sixteen = stbi_is_16_bit_from_memory(bytes, len) != 0;

  Image image;
  image.width = width;
  image.height = height;
  image.channels = channels;
  image.bits = sixteen ? 16 : 8;
  std::unique_ptr<void, void (*)(void*)> pixels(nullptr, stbi_image_free);
  int w = 0, h = 0, c = 0;
  if (sixteen)
    pixels.reset(stbi_load_16_from_memory(bytes, len, &w, &h, &c, 0));
  else
    pixels.reset(stbi_load_from_memory(bytes, len, &w, &h, &c, 0));
  if (!pixels) {
    const char* reason = stbi_failure_reason();
    if (reason && std::strcmp(reason, "outofmem") == 0)
      return make_error(ErrorCode::kOutOfMemory, std::string("out of memory decoding a ") + std::to_string(width) + "x" +
                                                     std::to_string(height) + " " + format_name(info.format));
    return make_error(ErrorCode::kCorrupt, std::string("corrupt ") + format_name(info.format) + " (" +
                                               (reason ? reason : "decoder failed") + ")");
  }
  if (w != width || h != height || c != channels)
    return make_error(ErrorCode::kCorrupt, std::string("corrupt ") + format_name(info.format) + " (header and data disagree)");
  // stb decodes some corrupt JPEG data without a word (zeros past the end, stray markers, ...): refuse it.
  if (info.format == ImageFormat::kJpeg)
    if (std::optional<Error> bad = check_jpeg_stream(bytes, size)) return *bad;
  try {
    const std::uint8_t* p = static_cast<const std::uint8_t*>(pixels.get());
    image.samples.assign(p, p + static_cast<std::size_t>(height) * image.row_bytes());
  } catch (const std::bad_alloc&) {
    return make_error(ErrorCode::kOutOfMemory, "out of memory copying decoded pixels");
  }
  return image;
}

}  // namespace cellcam
