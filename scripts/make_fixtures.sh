#!/usr/bin/env bash
# make_fixtures.sh — regenerate tests/data/ from ../shared/data (real images) with netpbm, libjpeg-turbo
# and libtiff's own tools. The output is committed; CI never runs this. Needs: netpbm libtiff-tools
# libjpeg-turbo-progs python3 (installed here if missing).
#
#   scripts/make_fixtures.sh            # writes tests/data/
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${CELLCAM_DATA:-../shared/data}
OUT=tests/data
need=()
for p in netpbm libtiff-tools libjpeg-turbo-progs; do dpkg -s "$p" >/dev/null 2>&1 || need+=("$p"); done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then apt-get install -y -qq "${need[@]}"; else sudo apt-get install -y -qq "${need[@]}"; fi
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
# Fuzzer-found regressions (malformed/fuzz_*, and the LZW TIFFs a fuzzer damaged, malformed/lzw_*) are
# not generated here: keep them.
mkdir -p "$tmp/keep" && { cp "$OUT"/malformed/fuzz_* "$OUT"/malformed/lzw_* "$tmp/keep/" 2>/dev/null || true; }
rm -rf "$OUT" && mkdir -p "$OUT"/{malaria,pcam,blood,formats,tiff,malformed}
cp "$tmp"/keep/* "$OUT/malformed/" 2>/dev/null || true

# ---- real images, copied as they are
cp "$DATA/malaria/Parasitized/C100P61ThinF_IMG_20150918_144104_cell_164.png" "$OUT/malaria/parasitized_P61_cell_164.png"
cp "$DATA/malaria/Parasitized/C178P139NThinF_IMG_20151201_154524_cell_157.png" "$OUT/malaria/parasitized_P139_cell_157.png"
cp "$DATA/malaria/Uninfected/C100P61ThinF_IMG_20150918_144104_cell_144.png" "$OUT/malaria/uninfected_P61_cell_144.png"
cp "$DATA/malaria/Uninfected/C136P97ThinF_IMG_20151005_141321_cell_57.png" "$OUT/malaria/uninfected_P97_cell_57.png"
cp "$DATA/pcam/images/c0318a09d4cef7c6b024b2ffca1041cc06e38443.jpg" "$OUT/pcam/tumour_c0318a09.jpg"
cp "$DATA/pcam/images/cf2dbdaee56fe1400e5b14d03bbde96ff2952731.jpg" "$OUT/pcam/tumour_cf2dbdae.jpg"
cp "$DATA/pcam/images/be4fc7282e1c91a0e9f10d8a5266a02abab79444.jpg" "$OUT/pcam/normal_be4fc728.jpg"
cp "$DATA/pcam/images/c8aa6215db8b6d91bc52c0efd2822ee940af8802.jpg" "$OUT/pcam/normal_c8aa6215.jpg"
cp "$DATA/blood/neutrophil/BNE_106934.jpg" "$OUT/blood/neutrophil_BNE_106934.jpg"
cp "$DATA/blood/lymphocyte/LY_104129.jpg" "$OUT/blood/lymphocyte_LY_104129.jpg"

# ---- a small patient-grouped malaria set for the trainer's smoke test: 40 cells a class, every
# 110th row of each class in manifest.csv, with the patient column kept
mkdir -p "$OUT/train_smoke"
python3 - "$DATA/malaria" "$OUT/train_smoke" <<'PY'
import csv, os, shutil, sys
src, out = sys.argv[1], sys.argv[2]
rows = list(csv.DictReader(open(os.path.join(src, 'manifest.csv'), newline='')))
picked = []
for label in ('Parasitized', 'Uninfected'):
    of_class = [r for r in rows if r['label'] == label]
    picked += of_class[::110][:40]
with open(os.path.join(out, 'manifest.csv'), 'w', newline='') as f:
    w = csv.writer(f, lineterminator='\n')
    w.writerow(['path', 'label', 'patient'])
    for r in picked:
        os.makedirs(os.path.join(out, r['label']), exist_ok=True)
        shutil.copy(os.path.join(src, r['path']), os.path.join(out, r['path']))
        w.writerow([r['path'], r['label'], r['patient']])
PY

# ---- the other stb formats and depths, from one malaria cell
cell="$OUT/malaria/parasitized_P61_cell_164.png"
pngtopnm "$cell" > "$tmp/cell.ppm"
ppmtopgm "$tmp/cell.ppm" > "$tmp/cell.pgm"
ppmtobmp "$tmp/cell.ppm" > "$OUT/formats/cell_rgb24.bmp"
pnmquant 256 "$tmp/cell.ppm" 2>/dev/null | pamtogif > "$OUT/formats/cell_palette.gif"
ppmtotga -rgb -norle "$tmp/cell.ppm" > "$OUT/formats/cell_rgb.tga" 2>/dev/null
ppmtotga -rgb "$tmp/cell.ppm" > "$OUT/formats/cell_rgb_rle.tga" 2>/dev/null
pnmtopng "$tmp/cell.pgm" > "$OUT/formats/cell_gray8.png"
cjpeg -quality 90 -progressive "$tmp/cell.ppm" > "$OUT/formats/cell_progressive.jpg"
cjpeg -quality 90 -grayscale "$tmp/cell.ppm" > "$OUT/formats/cell_gray.jpg"

# a 2048x1536 microscopy-sized photo (tiled blood smear), for tiling
djpeg "$OUT/blood/neutrophil_BNE_106934.jpg" > "$tmp/blood.ppm"
pnmtile 2048 1536 "$tmp/blood.ppm" | cjpeg -quality 75 > "$OUT/formats/large_2048x1536.jpg"

# Raw samples for what no converter makes: alpha (0 on the smear's black background), inverted gray for
# min-is-white, and true 16-bit data (8-bit value * 257 plus a low-order ramp, so the low byte matters).
python3 - "$tmp" <<'PY'
import sys
tmp = sys.argv[1]
def read_pnm(path):
    data = open(path, 'rb').read()
    fields, pos = [], 0
    while len(fields) < 4:
        while data[pos:pos+1].isspace(): pos += 1
        if data[pos:pos+1] == b'#':
            while data[pos:pos+1] != b'\n': pos += 1
            continue
        start = pos
        while not data[pos:pos+1].isspace(): pos += 1
        fields.append(data[start:pos])
    return int(fields[1]), int(fields[2]), data[pos+1:]
w, h, rgb = read_pnm(f'{tmp}/cell.ppm')
_, _, gray = read_pnm(f'{tmp}/cell.pgm')
rgba, graya = bytearray(), bytearray()
for i in range(w * h):
    r, g, b = rgb[3*i:3*i+3]
    a = 0 if r + g + b < 30 else 255
    rgba += bytes((r, g, b, a)); graya += bytes((gray[i], a))
open(f'{tmp}/cell.rgba', 'wb').write(rgba)
open(f'{tmp}/cell.graya', 'wb').write(graya)
open(f'{tmp}/cell.inverted', 'wb').write(bytes(255 - v for v in gray))
import struct, zlib
def ramp(i): return (i * 37) % 257
rgb16 = [v * 257 + ramp(i) for i, v in enumerate(rgb)]
rgb16 = [min(v, 65535) for v in rgb16]
gray16 = [min(v * 257 + ramp(i), 65535) for i, v in enumerate(gray)]
open(f'{tmp}/cell16.ppm', 'wb').write(f'P6\n{w} {h}\n65535\n'.encode() + struct.pack(f'>{len(rgb16)}H', *rgb16))
open(f'{tmp}/cell16.pgm', 'wb').write(f'P5\n{w} {h}\n65535\n'.encode() + struct.pack(f'>{len(gray16)}H', *gray16))
def chunk(kind, data):
    return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))
rows = b''.join(b'\x00' + struct.pack(f'>{3*w}H', *rgb16[3*w*y:3*w*(y+1)]) for y in range(h))
png = (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 16, 2, 0, 0, 0)) +
       chunk(b'IDAT', zlib.compress(rows, 9)) + chunk(b'IEND', b''))
open(f'{tmp}/cell_rgb16.png', 'wb').write(png)
open(f'{tmp}/size', 'w').write(f'{w} {h}\n')
PY
# ---- TIFF variants, written by libtiff's tools
T="$OUT/tiff"
ppm2tiff -c none "$tmp/cell.ppm" "$T/rgb8_none.tif"
tiffcp -c lzw "$T/rgb8_none.tif" "$T/rgb8_lzw.tif"
tiffcp -c zip "$T/rgb8_none.tif" "$T/rgb8_deflate.tif"
tiffcp -c packbits "$T/rgb8_none.tif" "$T/rgb8_packbits.tif"
tiffcp -r 16 -c jpeg "$T/rgb8_none.tif" "$T/rgb8_jpeg_ycbcr.tif"
tiffcp -r 16 -c jpeg:r "$T/rgb8_none.tif" "$T/rgb8_jpeg_rgb.tif"
tiffcp -p separate -c lzw "$T/rgb8_none.tif" "$T/rgb8_planar_lzw.tif"
tiffcp -t -w 32 -l 32 -c zip "$T/rgb8_none.tif" "$T/rgb8_tiled_deflate.tif"
tiffcp -t -w 64 -l 64 -c jpeg "$T/rgb8_none.tif" "$T/rgb8_tiled_jpeg.tif"
ppm2tiff -c none "$tmp/cell16.ppm" "$T/rgb16_none.tif"
tiffcp -c lzw "$T/rgb16_none.tif" "$T/rgb16_lzw.tif"
tiffcp -B -c zip "$T/rgb16_none.tif" "$T/rgb16_bigendian_deflate.tif"
ppm2tiff -c none "$tmp/cell.pgm" "$T/gray8_none.tif"
tiffcp -c packbits "$T/gray8_none.tif" "$T/gray8_packbits.tif"
ppm2tiff -c none "$tmp/cell16.pgm" "$T/gray16_none.tif"
tiffcp -t -w 48 -l 48 -c lzw "$T/gray16_none.tif" "$T/gray16_tiled_lzw.tif"
# -f (Floyd-Steinberg): without it tiffmedian 4.5 maps most pixels to far-off colours
tiffmedian -f "$T/rgb8_none.tif" "$T/palette8_none.tif"
tiffcp -c lzw "$T/palette8_none.tif" "$T/palette8_lzw.tif"
# libtiff's own palette expansion, the reference the decoders are checked against
pal2rgb -c lzw "$T/palette8_none.tif" "$T/palette8_expanded_by_pal2rgb.tif"
tiffcp "$T/rgb8_lzw.tif" "$T/gray8_packbits.tif" "$T/palette8_lzw.tif" "$T/multipage_3.tif"

read -r W H < "$tmp/size"
cp "$tmp/cell_rgb16.png" "$OUT/formats/cell_rgb16.png"
raw2tiff -w "$W" -l "$H" -b 4 -p rgb -c lzw "$tmp/cell.rgba" "$T/rgba8_lzw.tif"
tiffset -s 338 1 2 "$T/rgba8_lzw.tif"
raw2tiff -w "$W" -l "$H" -b 2 -p minisblack -c zip "$tmp/cell.graya" "$T/graya8_deflate.tif"
tiffset -s 338 1 2 "$T/graya8_deflate.tif"
raw2tiff -w "$W" -l "$H" -b 1 -p miniswhite -c none "$tmp/cell.inverted" "$T/miniswhite8_none.tif"

# ---- TIFFs that must be refused by name
tiffcp -c zstd "$T/rgb8_none.tif" "$OUT/malformed/compression_zstd.tif"
tiffcp -c webp "$T/rgb8_none.tif" "$OUT/malformed/compression_webp.tif"

# ---- malformed files
M="$OUT/malformed"
: > "$M/empty.png"
size=$(stat -c %s "$cell"); head -c $((size / 2)) "$cell" > "$M/truncated.png"
jpg="$OUT/pcam/tumour_c0318a09.jpg"; size=$(stat -c %s "$jpg"); head -c $((size * 2 / 3)) "$jpg" > "$M/truncated.jpg"
size=$(stat -c %s "$T/rgb8_lzw.tif"); head -c $((size / 2)) "$T/rgb8_lzw.tif" > "$M/truncated.tif"
printf 'This is a plain text file that someone renamed to .png\n' > "$M/text_renamed.png"
printf '%%PDF-1.4\n%%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\n' > "$M/document.png"
python3 - "$M" "$cell" "$jpg" <<'PY'
import random, struct, sys, zlib
out, cell, jpg = sys.argv[1], sys.argv[2], sys.argv[3]
def chunk(kind, data):
    return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))
# 45 bytes that claim 100000x100000 RGBA: must be refused before any allocation.
ihdr = struct.pack('>IIBBBBB', 100000, 100000, 8, 6, 0, 0, 0)
open(f'{out}/huge_dims.png', 'wb').write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', ihdr) + chunk(b'IEND', b''))
# A real JPEG whose frame header is patched to 40000x40000.
data = bytearray(open(jpg, 'rb').read())
i = 2
while True:
    assert data[i] == 0xFF
    marker, length = data[i + 1], struct.unpack('>H', data[i + 2:i + 4])[0]
    if marker in (0xC0, 0xC1, 0xC2):
        data[i + 5:i + 9] = struct.pack('>HH', 40000, 40000)
        break
    i += 2 + length
open(f'{out}/huge_dims.jpg', 'wb').write(bytes(data))
# A classic little-endian TIFF header + one IFD declaring 100000x100000 8-bit gray, one strip.
entries = [(256, 4, 1, 100000), (257, 4, 1, 100000), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1),
           (273, 4, 1, 8), (277, 3, 1, 1), (278, 4, 1, 100000), (279, 4, 1, 10**10 % 2**32)]
ifd = struct.pack('<H', len(entries)) + b''.join(
    struct.pack('<HHI', t, ty, n) + (struct.pack('<HH', v, 0) if ty == 3 else struct.pack('<I', v))
    for t, ty, n, v in entries) + struct.pack('<I', 0)
open(f'{out}/huge_dims.tif', 'wb').write(b'II*\x00' + struct.pack('<I', 8) + ifd)
# A PNG with its first byte changed.
png = bytearray(open(cell, 'rb').read()); png[0] = 0x88
open(f'{out}/wrong_magic.png', 'wb').write(bytes(png))
random.seed(20261122)
open(f'{out}/random_bytes.png', 'wb').write(bytes(random.getrandbits(8) for _ in range(4096)))
PY
# Corrupt JPEGs that stb_image decodes without an error; the JPEG stream check refuses them.
python3 scripts/make_corrupt_jpegs.py "$M" "$OUT/pcam/normal_be4fc728.jpg" "$OUT/formats/cell_progressive.jpg" \
  "$OUT/blood/neutrophil_BNE_106934.jpg" "$T/rgb8_jpeg_ycbcr.tif"
echo "fixtures written to $OUT:"; find "$OUT" -type f | sort | xargs ls -l | awk '{print $5, $9}'
