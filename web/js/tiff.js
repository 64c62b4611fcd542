// tiff.js — TIFF in the browser: the wasm module's shared probe decides what may be decoded, utif2
// reads the raw samples, and the module's preprocessPixels() does the rest (palette, min-is-white,
// resize...) exactly as the native build does with libtiff's samples.
//
// Constraints learnt the hard way (see README, "Build notes"):
//  - utif2 returns all-zero pixels for ZSTD/WebP with no error: the shared probe refuses those first.
//  - utif2 interleaves planar (separate) files wrongly: each plane is decoded as its own 1-sample image.
//  - utif2 prints a stray console.log on tiled files: silenced around the call.
//  - utif2 ignores FillOrder 2 (bits stored least-significant first, raw2tiff's default) and then
//    decodes garbage or loops forever inside its LZW decoder: such strips are bit-reversed first.
//  - JPEG-compressed TIFF is not read here at all: the wasm module decodes it (stb), as natively.

const TIFF_MAGIC = [[0x49, 0x49, 0x2a, 0x00], [0x4d, 0x4d, 0x00, 0x2a], [0x49, 0x49, 0x2b, 0x00], [0x4d, 0x4d, 0x00, 0x2b]];

export function isTiff(bytes) {
  return TIFF_MAGIC.some((m) => m.every((b, i) => bytes[i] === b));
}

function quietly(fn) {
  const log = console.log;
  console.log = () => {};
  try {
    return fn();
  } finally {
    console.log = log;
  }
}

function fail(code, message) {
  return { ok: false, code, message };
}

const REVERSED = new Uint8Array(256).map((_, b) => {
  let r = 0;
  for (let i = 0; i < 8; i++) r |= ((b >> i) & 1) << (7 - i);
  return r;
});

// FillOrder 2: a copy of the file with every strip or tile bit-reversed, as libtiff reads it.
function normaliseFillOrder(buffer, ifd) {
  if (!ifd.t266 || ifd.t266[0] !== 2) return buffer;
  const copy = new Uint8Array(buffer.slice(0));
  const offsets = ifd.t324 ?? ifd.t273 ?? [];
  const counts = ifd.t325 ?? ifd.t279 ?? [];
  for (let k = 0; k < offsets.length; k++)
    for (let i = offsets[k]; i < offsets[k] + counts[k] && i < copy.length; i++) copy[i] = REVERSED[copy[i]];
  ifd.t266 = [1];
  return copy.buffer;
}

// Decodes one plane (or the whole image when contiguous) of the first page into raw bytes.
function decodePlane(UTIF, buffer, ifd, info, plane) {
  const page = Object.assign({}, ifd);
  delete page.data;
  if (info.planar) {
    const offsetsTag = info.tiled ? 't324' : 't273';
    const countsTag = info.tiled ? 't325' : 't279';
    const n = ifd[offsetsTag].length / info.samplesPerPixel;
    page[offsetsTag] = ifd[offsetsTag].slice(plane * n, (plane + 1) * n);
    page[countsTag] = ifd[countsTag].slice(plane * n, (plane + 1) * n);
    page.t277 = [1];
    page.t284 = [1];
    page.t258 = [info.bitsPerSample];
  }
  quietly(() => UTIF.decodeImage(buffer, page));
  return page.data;
}

// bytes (Uint8Array) -> { ok: true, pixels } for cellcam.preprocessPixels, { ok: true, pixels: null }
// when the module decodes the file itself (JPEG-in-TIFF), or { ok: false, code, message }.
export function readTiffPixels(cellcam, UTIF, bytes, options) {
  const info = cellcam.probeTiff(bytes, options);
  if (!info.ok) return info;
  if (info.compression === 7) return { ok: true, pixels: null, info };
  const original = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  let ifd;
  let buffer;
  try {
    ifd = quietly(() => UTIF.decode(original))[0];  // utif2 logs "error in TIFF" on some damaged files
    buffer = normaliseFillOrder(original, ifd);
  } catch (e) {
    return fail('corrupt', `corrupt TIFF (${e && e.message ? e.message : e})`);
  }
  const width = info.width;
  const height = info.height;
  const channels = info.samplesPerPixel;
  const bytesPerSample = info.bitsPerSample / 8;
  const expected = width * height * channels * bytesPerSample;
  const data = new Uint8Array(expected);
  try {
    const planes = info.planar ? channels : 1;
    const planeBytes = width * height * (info.planar ? 1 : channels) * bytesPerSample;
    for (let p = 0; p < planes; p++) {
      const raw = decodePlane(UTIF, buffer, ifd, info, p);
      if (!raw || raw.length < planeBytes)
        return fail('truncated', `truncated TIFF (decoded ${raw ? raw.length : 0} of ${planeBytes} bytes)`);
      if (!info.planar) {
        data.set(raw.subarray(0, planeBytes));
      } else {
        for (let i = 0; i < width * height; i++)
          for (let b = 0; b < bytesPerSample; b++)
            data[(i * channels + p) * bytesPerSample + b] = raw[i * bytesPerSample + b];
      }
    }
  } catch (e) {
    return fail('corrupt', `corrupt TIFF (${e && e.message ? e.message : e})`);
  }
  const pixels = {
    width,
    height,
    channels,
    bits: info.bitsPerSample,
    // utif2 hands 16-bit samples over little-endian whatever the file's order: that is host order here.
    data: info.bitsPerSample === 16 ? new Uint16Array(data.buffer) : data,
    layout: info.photometric === 0 ? 'min-is-white' : info.photometric === 3 ? 'palette' : 'direct',
  };
  if (pixels.layout === 'palette') pixels.colormap = info.colormap;
  return { ok: true, pixels, info };
}
