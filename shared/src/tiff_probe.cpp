// tiff_probe.cpp — reads the first IFD of a TIFF (classic or BigTIFF, either byte order) and refuses,
// with a message that names the problem, anything the decoders behind it should never see.
#include "cellcam/tiff_probe.h"

#include <string>

#include "byte_reader.h"

namespace cellcam {
namespace {

constexpr int kMaxEntries = 4096;   // a real IFD has a few dozen
constexpr int kMaxPages = 64;       // pages counted, not decoded
constexpr unsigned long long kMaxChunkBytes = 1ull << 30;  // one decompressed strip or tile

Error truncated(const std::string& detail) { return make_error(ErrorCode::kTruncated, "truncated TIFF (" + detail + ")"); }
Error corrupt(const std::string& detail) { return make_error(ErrorCode::kCorrupt, "corrupt TIFF (" + detail + ")"); }

int type_size(int type) {
  switch (type) {
    case 1: case 2: case 6: case 7: return 1;
    case 3: case 8: return 2;
    case 4: case 9: case 11: case 13: return 4;
    case 5: case 10: case 12: case 16: case 17: case 18: return 8;
    default: return 0;
  }
}

class TiffReader {
 public:
  TiffReader(ByteSpan b, bool big_endian, bool bigtiff) : b_(b), be_(big_endian), big_(bigtiff) {}

  std::uint16_t u16(std::size_t o) const { return be_ ? b_.be16(o) : b_.le16(o); }
  std::uint32_t u32(std::size_t o) const { return be_ ? b_.be32(o) : b_.le32(o); }
  std::uint64_t u64(std::size_t o) const { return be_ ? b_.be64(o) : b_.le64(o); }
  std::uint64_t offset(std::size_t o) const { return big_ ? u64(o) : u32(o); }
  std::size_t offset_size() const { return big_ ? 8 : 4; }
  std::size_t entry_size() const { return big_ ? 20 : 12; }
  bool has(std::uint64_t o, std::uint64_t n) const { return o <= b_.size && n <= b_.size - o; }

  struct Entry {
    int tag = 0;
    int type = 0;
    std::uint64_t count = 0;
    std::size_t value_pos = 0;  // where the values are (inline or at the offset)
  };

  // Reads entry `i` of the IFD at `ifd`, resolving out-of-line values; false if they lie outside the file.
  bool entry(std::size_t ifd, std::uint64_t i, Entry* e, std::string* why) const {
    const std::size_t pos = ifd + (big_ ? 8 : 2) + static_cast<std::size_t>(i) * entry_size();
    e->tag = u16(pos);
    e->type = u16(pos + 2);
    e->count = big_ ? u64(pos + 4) : u32(pos + 4);
    const std::size_t field = pos + (big_ ? 12 : 8);
    const int size = type_size(e->type);
    if (size == 0) { e->count = 0; e->value_pos = field; return true; }  // unknown type: ignored
    if (e->count > (1ull << 40) / size) { *why = "tag " + std::to_string(e->tag) + " has an absurd count"; return false; }
    const std::uint64_t bytes = e->count * size;
    if (bytes <= offset_size()) { e->value_pos = field; return true; }
    const std::uint64_t at = offset(field);
    if (!has(at, bytes)) {
      *why = "tag " + std::to_string(e->tag) + " values at byte " + std::to_string(at) + " run past the end of the file (" +
             std::to_string(b_.size) + " bytes)";
      return false;
    }
    e->value_pos = static_cast<std::size_t>(at);
    return true;
  }

  std::uint64_t value(const Entry& e, std::uint64_t k) const {
    const std::size_t p = e.value_pos + static_cast<std::size_t>(k) * type_size(e.type);
    switch (e.type) {
      case 1: case 6: case 7: return b_.u8(p);
      case 3: case 8: return u16(p);
      case 4: case 9: case 13: return u32(p);
      case 16: case 17: case 18: return u64(p);
      default: return 0;
    }
  }

 private:
  ByteSpan b_;
  bool be_;
  bool big_;
};

std::string photometric_name(int p) {
  switch (p) {
    case 4: return "transparency mask";
    case 5: return "CMYK";
    case 8: return "CIELab";
    case 9: return "ICCLab";
    case 10: return "ITULab";
    case 32844: return "LogL";
    case 32845: return "LogLuv";
    default: return std::to_string(p);
  }
}

}  // namespace

std::string tiff_compression_name(int c) {
  switch (c) {
    case 1: return "none";
    case 2: return "CCITT RLE";
    case 3: return "CCITT Group 3";
    case 4: return "CCITT Group 4";
    case 5: return "LZW";
    case 6: return "old-style JPEG";
    case 7: return "JPEG";
    case 8: case 32946: return "Deflate";
    case 32773: return "PackBits";
    case 34661: return "JBIG";
    case 34676: return "SGI LogLuv";
    case 34712: return "JPEG 2000";
    case 34887: return "LERC";
    case 34925: return "LZMA";
    case 34926: case 50000: return "ZSTD";
    case 34927: case 50001: return "WebP";
    case 50002: return "JPEG XL";
    default: return "code " + std::to_string(c);
  }
}

bool tiff_compression_supported(int c) { return c == 1 || c == 5 || c == 7 || c == 8 || c == 32946 || c == 32773; }

int tiff_output_channels(const TiffInfo& info) {
  if (info.photometric == static_cast<int>(TiffPhotometric::kPalette)) return 3;
  if (info.photometric == static_cast<int>(TiffPhotometric::kYCbCr)) return 3;
  return info.samples_per_pixel;
}

Result<TiffInfo> probe_tiff(const std::uint8_t* bytes, std::size_t size, const DecodeLimits& limits) {
  const ByteSpan b{bytes, size};
  TiffInfo info;
  if (!b.has(0, 8)) return truncated("ends inside the header");
  info.big_endian = bytes[0] == 'M';
  const std::uint16_t magic = info.big_endian ? b.be16(2) : b.le16(2);
  info.bigtiff = magic == 43;
  if (info.bigtiff && !b.has(0, 16)) return truncated("ends inside the header");
  const TiffReader r(b, info.big_endian, info.bigtiff);
  std::uint64_t ifd = info.bigtiff ? r.u64(8) : r.u32(4);

  if (ifd == 0) return corrupt("no image directory");
  // Count the pages first (with loop protection), then read the first one in detail.
  const std::uint64_t first_ifd = ifd;
  info.page_count = 0;
  for (std::uint64_t at = ifd; at != 0 && info.page_count < kMaxPages;) {
    if (!r.has(at, info.bigtiff ? 8 : 2)) {
      if (info.page_count == 0)
        return truncated("the directory at byte " + std::to_string(at) + " lies past the end of the file (" +
                         std::to_string(size) + " bytes)");
      break;  // a damaged later page does not stop the first one from being read
    }
    const std::uint64_t n = info.bigtiff ? r.u64(at) : r.u16(at);
    const std::uint64_t entries_end = (info.bigtiff ? 8 : 2) + n * r.entry_size();
    if (n == 0 || n > kMaxEntries) {
      if (info.page_count == 0) return corrupt("directory with " + std::to_string(n) + " entries");
      break;
    }
    if (!r.has(at, entries_end + r.offset_size())) {
      if (info.page_count == 0) return truncated("the first directory runs past the end of the file");
      break;
    }
    ++info.page_count;
    const std::uint64_t next = r.offset(static_cast<std::size_t>(at + entries_end));
    if (next <= at) break;  // offsets must grow; stops loops
    at = next;
  }

  ifd = first_ifd;
  const std::uint64_t n = info.bigtiff ? r.u64(ifd) : r.u16(ifd);
  std::vector<int> bits;
  TiffReader::Entry offsets{}, counts{}, colormap{};
  bool has_offsets = false, has_counts = false, has_colormap = false;
  long long width = -1, height = -1, rows_per_strip = -1, tile_w = 0, tile_h = 0;
  int sample_format = 1;
  info.samples_per_pixel = 1;
  info.photometric = -1;
  for (std::uint64_t i = 0; i < n; ++i) {
    TiffReader::Entry e;
    std::string why;
    if (!r.entry(static_cast<std::size_t>(ifd), i, &e, &why)) return truncated(why);
    if (e.count == 0) continue;
    const std::uint64_t v0 = r.value(e, 0);
    switch (e.tag) {
      case 256: width = static_cast<long long>(v0); break;
      case 257: height = static_cast<long long>(v0); break;
      case 258:
        for (std::uint64_t k = 0; k < e.count && k < 16; ++k) bits.push_back(static_cast<int>(r.value(e, k)));
        break;
      case 259: info.compression = static_cast<int>(v0); break;
      case 262: info.photometric = static_cast<int>(v0); break;
      case 273: case 324: offsets = e; has_offsets = true; info.tiled = e.tag == 324; break;
      case 279: case 325: counts = e; has_counts = true; break;
      case 277: info.samples_per_pixel = static_cast<int>(v0); break;
      case 278: rows_per_strip = static_cast<long long>(v0); break;
      case 266: info.fill_order = static_cast<int>(v0); break;
      case 284: info.planar_config = static_cast<int>(v0); break;
      case 320: colormap = e; has_colormap = true; break;
      case 322: tile_w = static_cast<long long>(v0); break;
      case 323: tile_h = static_cast<long long>(v0); break;
      case 338: info.extra_samples = static_cast<int>(e.count); break;
      case 339: sample_format = static_cast<int>(v0); break;
      case 347:
        if (e.type == 7 || e.type == 1) {
          info.jpeg_tables_offset = e.value_pos;
          info.jpeg_tables_size = e.count;
        }
        break;
      default: break;
    }
  }

  if (width < 0 || height < 0) return corrupt("no image width or height");
  Error error;
  if (!check_dimensions(width, height, limits, &error)) return error;
  info.width = static_cast<int>(width);
  info.height = static_cast<int>(height);

  if (!tiff_compression_supported(info.compression))
    return make_error(ErrorCode::kUnsupportedCompression,
                      "TIFF compression " + tiff_compression_name(info.compression) +
                          " is not supported (none, LZW, Deflate, PackBits and JPEG are)");
  if (info.samples_per_pixel < 1 || info.samples_per_pixel > 4)
    return make_error(ErrorCode::kUnsupportedLayout,
                      "TIFF with " + std::to_string(info.samples_per_pixel) + " samples per pixel is not supported (1 to 4 are)");
  info.bits_per_sample = bits.empty() ? 1 : bits[0];
  for (int bit : bits)
    if (bit != info.bits_per_sample) return make_error(ErrorCode::kUnsupportedLayout, "TIFF with mixed bit depths is not supported");
  if (sample_format != 1)
    return make_error(ErrorCode::kUnsupportedLayout, sample_format == 3 ? "floating-point TIFF is not supported (8- and 16-bit integer samples are)"
                                                                        : "signed-integer TIFF is not supported (unsigned 8- and 16-bit samples are)");
  if (info.bits_per_sample != 8 && info.bits_per_sample != 16)
    return make_error(ErrorCode::kUnsupportedLayout,
                      "TIFF with " + std::to_string(info.bits_per_sample) + "-bit samples is not supported (8 and 16 are)");
  if (info.photometric < 0) info.photometric = info.samples_per_pixel >= 3 ? 2 : 1;
  switch (info.photometric) {
    case 0: case 1:
      if (info.samples_per_pixel > 2) return make_error(ErrorCode::kUnsupportedLayout, "grayscale TIFF with more than 2 samples per pixel is not supported");
      break;
    case 2:
      if (info.samples_per_pixel < 3) return corrupt("RGB with fewer than 3 samples per pixel");
      break;
    case 3:
      if (info.samples_per_pixel != 1 || info.bits_per_sample != 8)
        return make_error(ErrorCode::kUnsupportedLayout, "palette TIFF must have one 8-bit sample per pixel");
      if (!has_colormap || colormap.count < 3u * 256u) return corrupt("palette image without a full colour map");
      info.colormap.resize(3 * 256);
      for (std::size_t k = 0; k < info.colormap.size(); ++k) info.colormap[k] = static_cast<std::uint16_t>(r.value(colormap, k));
      break;
    case 6:
      if (info.compression != 7)
        return make_error(ErrorCode::kUnsupportedLayout, "YCbCr TIFF is supported only with JPEG compression");
      break;
    default:
      return make_error(ErrorCode::kUnsupportedLayout, "TIFF photometric " + photometric_name(info.photometric) + " is not supported");
  }
  if (info.compression == 7 && info.bits_per_sample != 8)
    return make_error(ErrorCode::kUnsupportedLayout, "JPEG-compressed TIFF must have 8-bit samples");
  if (info.compression == 7 && info.planar_config == 2)
    return make_error(ErrorCode::kUnsupportedLayout, "JPEG-compressed TIFF with separate colour planes is not supported");
  if (info.compression == 7 && info.photometric != 1 && info.photometric != 2 && info.photometric != 6)
    return make_error(ErrorCode::kUnsupportedLayout, "JPEG-compressed TIFF must be gray, RGB or YCbCr");
  if (info.planar_config != 1 && info.planar_config != 2) return corrupt("unknown planar configuration");

  // Strip or tile geometry, then every chunk must lie inside the file.
  if (!has_offsets) return corrupt("no strip or tile offsets");
  if (!has_counts) return corrupt("no strip or tile byte counts");
  unsigned long long chunks_across = 1, chunks_down, chunk_w, chunk_h;
  if (info.tiled) {
    if (tile_w <= 0 || tile_h <= 0 || tile_w > 65536 || tile_h > 65536) return corrupt("invalid tile size");
    chunk_w = tile_w;
    chunk_h = tile_h;
    chunks_across = (width + tile_w - 1) / tile_w;
    chunks_down = (height + tile_h - 1) / tile_h;
  } else {
    if (rows_per_strip <= 0 || rows_per_strip > height) rows_per_strip = height;
    chunk_w = width;
    chunk_h = rows_per_strip;
    chunks_down = (height + rows_per_strip - 1) / rows_per_strip;
  }
  const int planes = info.planar_config == 2 ? info.samples_per_pixel : 1;
  const int samples_per_chunk_pixel = info.planar_config == 2 ? 1 : info.samples_per_pixel;
  const unsigned long long chunk_bytes = chunk_w * chunk_h * samples_per_chunk_pixel * (info.bits_per_sample / 8);
  if (chunk_bytes > kMaxChunkBytes) return make_error(ErrorCode::kTooLarge, "TIFF strip or tile larger than 1 GB");
  info.rows_per_strip = info.tiled ? 0 : static_cast<int>(rows_per_strip);
  info.tile_width = static_cast<int>(tile_w);
  info.tile_height = static_cast<int>(tile_h);
  const unsigned long long expected = chunks_across * chunks_down * planes;
  if (offsets.count < expected || counts.count < expected)
    return corrupt("has " + std::to_string(offsets.count) + " strip/tile offsets, needs " + std::to_string(expected));
  info.chunk_offsets.resize(expected);
  info.chunk_byte_counts.resize(expected);
  for (unsigned long long k = 0; k < expected; ++k) {
    const std::uint64_t at = r.value(offsets, k), len = r.value(counts, k);
    info.chunk_offsets[k] = at;
    info.chunk_byte_counts[k] = len;
    if (!r.has(at, len))
      return truncated(std::string(info.tiled ? "tile " : "strip ") + std::to_string(k) + " ends at byte " +
                       std::to_string(at + len) + ", the file has " + std::to_string(size));
    if (info.compression == 1 && len < chunk_bytes && !info.tiled) {
      // The last strip may be short: only its own rows are needed.
      const unsigned long long row = k % chunks_down;
      const unsigned long long rows = row + 1 == chunks_down ? height - row * chunk_h : chunk_h;
      if (len < rows * chunk_w * samples_per_chunk_pixel * (info.bits_per_sample / 8))
        return truncated("strip " + std::to_string(k) + " holds " + std::to_string(len) + " bytes, fewer than its rows need");
    }
  }

  // LZW: walk every chunk as libtiff would decode it (tiff_lzw.cpp), all of them inside the file by now.
  if (info.compression == 5 && expected > 0) {
    const bool reversed = info.fill_order == 2;
    // Old-style LZW: libtiff reads it, utif2 decodes it to other pixels without a word. Refused in both.
    if (tiff_lzw_is_old_style(bytes + info.chunk_offsets[0], static_cast<std::size_t>(info.chunk_byte_counts[0]), reversed))
      return make_error(ErrorCode::kUnsupportedCompression,
                        "TIFF compression old-style LZW (bit-reversed codes, libtiff before 1991) is not supported "
                        "(none, LZW, Deflate, PackBits and JPEG are)");
    for (unsigned long long k = 0; k < expected; ++k) {
      std::uint64_t len = info.chunk_byte_counts[k];
      // libtiff reads at most 10 times a chunk's decoded size + 4096 of a chunk over 1 MB.
      if (len > (1u << 20) && (len - 4096) / 10 > chunk_bytes) len = chunk_bytes * 10 + 4096;
      unsigned long long want = chunk_bytes;  // a tile is always read whole; a strip, its own rows
      if (!info.tiled) {
        const unsigned long long row = k % chunks_down;
        const unsigned long long rows = row + 1 == chunks_down ? height - row * chunk_h : chunk_h;
        want = rows * chunk_w * samples_per_chunk_pixel * (info.bits_per_sample / 8);
      }
      const TiffLzwCheck c = check_tiff_lzw_chunk(bytes + info.chunk_offsets[k], static_cast<std::size_t>(len), want,
                                                  /*old_style=*/false, reversed);
      if (!c.ok) {
        const std::string what = std::string("LZW ") + (info.tiled ? "tile " : "strip ") + std::to_string(k) + ": " + c.problem;
        return c.truncated ? truncated(what) : corrupt(what);
      }
    }
  }
  return info;
}

}  // namespace cellcam
