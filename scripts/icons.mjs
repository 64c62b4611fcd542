// icons.mjs — the app icon (the header's ◉ on its dark blue), drawn and PNG-encoded here so the site needs no
// image tool and the repository no binary: build_site.mjs writes icons/icon-{192,512}.png for the web app
// manifest. Full-bleed background with the mark inside the central 60%, so it also serves as a
// "maskable" icon (the safe zone is the central 80% circle).
import { writeFileSync } from 'node:fs';
import { deflateSync } from 'node:zlib';

const BACKGROUND = [0x16, 0x32, 0x4f];
const MARK = [0x8f, 0xc1, 0xff];

// Coverage of the mark at (x, y) in [0,1]^2: a ring and a dot, as the ◉ character.
function onMark(x, y) {
  const r = Math.hypot(x - 0.5, y - 0.5);
  return (r >= 0.2 && r <= 0.28) || r <= 0.12;
}

function pixels(size) {
  const out = Buffer.alloc(size * size * 4);
  const S = 4;  // 4x4 samples a pixel: smooth edges
  for (let j = 0; j < size; j++) {
    for (let i = 0; i < size; i++) {
      let hit = 0;
      for (let b = 0; b < S; b++) for (let a = 0; a < S; a++) if (onMark((i + (a + 0.5) / S) / size, (j + (b + 0.5) / S) / size)) hit++;
      const t = hit / (S * S);
      const o = (j * size + i) * 4;
      for (let c = 0; c < 3; c++) out[o + c] = Math.round(BACKGROUND[c] * (1 - t) + MARK[c] * t);
      out[o + 3] = 255;
    }
  }
  return out;
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf) {
  let c = 0xffffffff;
  for (const byte of buf) c = CRC_TABLE[(c ^ byte) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'ascii');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

export function iconPng(size) {
  const rgba = pixels(size);
  const raw = Buffer.alloc(size * (size * 4 + 1));
  for (let j = 0; j < size; j++) rgba.copy(raw, j * (size * 4 + 1) + 1, j * size * 4, (j + 1) * size * 4);  // filter 0 per row
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8;  // bit depth
  ihdr[9] = 6;  // RGBA
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw, { level: 9 })), chunk('IEND', Buffer.alloc(0))]);
}

export function writeIcons(dir, sizes = [192, 512]) {
  for (const s of sizes) writeFileSync(`${dir}/icon-${s}.png`, iconPng(s));
}
