// tiff_decode.cpp — libtiff over an in-memory buffer; see tiff_decode.h.
#include "tiff_decode.h"

#include <tiffio.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "cellcam/pixels.h"
#include "cellcam/tiff_probe.h"

namespace cellcam::native {
namespace {

struct MemoryFile {
  const std::uint8_t* data;
  toff_t size;
  toff_t pos;
  std::string first_error;
};

tmsize_t mem_read(thandle_t h, void* buf, tmsize_t n) {
  auto* f = static_cast<MemoryFile*>(h);
  if (f->pos >= f->size || n <= 0) return 0;
  const toff_t avail = f->size - f->pos;
  const toff_t count = static_cast<toff_t>(n) < avail ? static_cast<toff_t>(n) : avail;
  std::memcpy(buf, f->data + f->pos, count);
  f->pos += count;
  return static_cast<tmsize_t>(count);
}
tmsize_t mem_write(thandle_t, void*, tmsize_t) { return -1; }
toff_t mem_seek(thandle_t h, toff_t off, int whence) {
  auto* f = static_cast<MemoryFile*>(h);
  toff_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? f->pos : f->size;
  f->pos = base + off;
  return f->pos;
}
int mem_close(thandle_t) { return 0; }
toff_t mem_size(thandle_t h) { return static_cast<MemoryFile*>(h)->size; }
int mem_map(thandle_t h, void** base, toff_t* size) {
  auto* f = static_cast<MemoryFile*>(h);
  *base = const_cast<std::uint8_t*>(f->data);
  *size = f->size;
  return 1;
}
void mem_unmap(thandle_t, void*, toff_t) {}

int on_error(TIFF*, void* user, const char* module, const char* fmt, va_list ap) {
  auto* f = static_cast<MemoryFile*>(user);
  if (f->first_error.empty()) {
    char buf[512];
    std::vsnprintf(buf, sizeof buf, fmt, ap);
    f->first_error = std::string(module ? module : "libtiff") + ": " + buf;
  }
  return 1;  // handled: keep libtiff quiet on stderr
}
int on_warning(TIFF*, void*, const char*, const char*, va_list) { return 1; }

struct TiffCloser {
  void operator()(TIFF* t) const { TIFFClose(t); }
};

// libtiff over a file probe_tiff() has accepted (probed once: for LZW the probe walks every strip).
Result<Image> read_with_libtiff(const std::uint8_t* bytes, std::size_t size, const TiffInfo& info,
                                const DecodeLimits& limits) {
  MemoryFile file{bytes, static_cast<toff_t>(size), 0, {}};
  std::unique_ptr<TIFFOpenOptions, void (*)(TIFFOpenOptions*)> options(TIFFOpenOptionsAlloc(), TIFFOpenOptionsFree);
  TIFFOpenOptionsSetErrorHandlerExtR(options.get(), on_error, &file);
  TIFFOpenOptionsSetWarningHandlerExtR(options.get(), on_warning, &file);
  TIFFOpenOptionsSetMaxSingleMemAlloc(options.get(), static_cast<tmsize_t>(1) << 31);
  std::unique_ptr<TIFF, TiffCloser> tif(TIFFClientOpenExt("memory", "rm", &file, mem_read, mem_write, mem_seek, mem_close,
                                                          mem_size, mem_map, mem_unmap, options.get()));
  auto libtiff_error = [&](const char* what) {
    return make_error(ErrorCode::kCorrupt, std::string("corrupt TIFF (") +
                                               (file.first_error.empty() ? what : file.first_error) + ")");
  };
  if (!tif) return libtiff_error("libtiff could not open it");

  const bool ycbcr = info.photometric == static_cast<int>(TiffPhotometric::kYCbCr);
  if (ycbcr && !TIFFSetField(tif.get(), TIFFTAG_JPEGCOLORMODE, JPEGCOLORMODE_RGB))
    return libtiff_error("cannot convert YCbCr to RGB");

  const int width = info.width, height = info.height;
  const int bytes_per_sample = info.bits_per_sample / 8;
  const int channels = ycbcr ? 3 : info.samples_per_pixel;  // samples per pixel as read
  const bool planar = info.planar_config == 2;
  const int planes = planar ? channels : 1;
  const int chunk_samples = planar ? 1 : channels;  // samples per pixel inside one strip/tile

  std::vector<std::uint8_t> samples;
  try {
    samples.resize(static_cast<std::size_t>(width) * height * channels * bytes_per_sample);
    std::uint32_t chunk_w = 0, chunk_h = 0;
    tmsize_t chunk_size;
    if (info.tiled) {
      TIFFGetField(tif.get(), TIFFTAG_TILEWIDTH, &chunk_w);
      TIFFGetField(tif.get(), TIFFTAG_TILELENGTH, &chunk_h);
      chunk_size = TIFFTileSize(tif.get());
    } else {
      std::uint32_t rows = 0;
      TIFFGetFieldDefaulted(tif.get(), TIFFTAG_ROWSPERSTRIP, &rows);
      chunk_w = static_cast<std::uint32_t>(width);
      chunk_h = std::min<std::uint32_t>(rows, static_cast<std::uint32_t>(height));
      chunk_size = TIFFStripSize(tif.get());
    }
    const std::size_t chunk_row_bytes = static_cast<std::size_t>(chunk_w) * chunk_samples * bytes_per_sample;
    if (chunk_size <= 0 || static_cast<std::size_t>(chunk_size) < chunk_row_bytes * chunk_h)
      return libtiff_error("strip or tile size inconsistent with its dimensions");
    std::vector<std::uint8_t> chunk(static_cast<std::size_t>(chunk_size));

    const std::size_t pixel_bytes = static_cast<std::size_t>(channels) * bytes_per_sample;
    for (int plane = 0; plane < planes; ++plane) {
      for (std::uint32_t y0 = 0; y0 < static_cast<std::uint32_t>(height); y0 += chunk_h) {
        for (std::uint32_t x0 = 0; x0 < static_cast<std::uint32_t>(width); x0 += chunk_w) {
          tmsize_t got;
          if (info.tiled) {
            const std::uint32_t index = TIFFComputeTile(tif.get(), x0, y0, 0, static_cast<std::uint16_t>(plane));
            got = TIFFReadEncodedTile(tif.get(), index, chunk.data(), chunk_size);
          } else {
            const std::uint32_t index = TIFFComputeStrip(tif.get(), y0, static_cast<std::uint16_t>(plane));
            got = TIFFReadEncodedStrip(tif.get(), index, chunk.data(), chunk_size);
          }
          if (got < 0) return libtiff_error("a strip or tile could not be decoded");
          const std::uint32_t rows = std::min<std::uint32_t>(chunk_h, static_cast<std::uint32_t>(height) - y0);
          const std::uint32_t cols = std::min<std::uint32_t>(chunk_w, static_cast<std::uint32_t>(width) - x0);
          if (static_cast<std::size_t>(got) < chunk_row_bytes * (rows - 1) + static_cast<std::size_t>(cols) * chunk_samples * bytes_per_sample)
            return make_error(ErrorCode::kTruncated, "truncated TIFF (a strip or tile decodes to fewer bytes than its rows need)");
          for (std::uint32_t r = 0; r < rows; ++r) {
            const std::uint8_t* src = chunk.data() + r * chunk_row_bytes;
            std::uint8_t* dst = samples.data() + ((static_cast<std::size_t>(y0) + r) * width + x0) * pixel_bytes;
            if (!planar) {
              std::memcpy(dst, src, static_cast<std::size_t>(cols) * pixel_bytes);
            } else {
              for (std::uint32_t c = 0; c < cols; ++c)
                std::memcpy(dst + c * pixel_bytes + plane * bytes_per_sample, src + c * bytes_per_sample, bytes_per_sample);
            }
          }
        }
      }
    }
  } catch (const std::bad_alloc&) {
    return make_error(ErrorCode::kOutOfMemory, "out of memory decoding a " + std::to_string(width) + "x" +
                                                   std::to_string(height) + " TIFF");
  }

  PixelBuffer pixels;
  pixels.width = width;
  pixels.height = height;
  pixels.channels = channels;
  pixels.bits = info.bits_per_sample;
  pixels.data = samples.data();
  pixels.size_bytes = samples.size();
  if (info.photometric == static_cast<int>(TiffPhotometric::kPalette)) {
    pixels.layout = PixelLayout::kPalette;
    pixels.colormap = info.colormap.data();
    pixels.colormap_entries = info.colormap.size();
  } else if (info.photometric == static_cast<int>(TiffPhotometric::kMinIsWhite)) {
    pixels.layout = PixelLayout::kMinIsWhite;
  }
  return image_from_pixels(pixels, limits);
}

}  // namespace

Result<Image> decode_tiff(const std::uint8_t* bytes, std::size_t size, const DecodeLimits& limits) {
  Result<TiffInfo> probed = probe_tiff(bytes, size, limits);
  if (!probed) return probed.error();
  if (probed.value().compression == 7) return decode_jpeg_tiff(bytes, size, probed.value(), limits);
  return read_with_libtiff(bytes, size, probed.value(), limits);
}

Result<Image> decode_tiff_with_libtiff(const std::uint8_t* bytes, std::size_t size, const DecodeLimits& limits) {
  Result<TiffInfo> probed = probe_tiff(bytes, size, limits);
  if (!probed) return probed.error();
  return read_with_libtiff(bytes, size, probed.value(), limits);
}

}  // namespace cellcam::native
