#!/usr/bin/env python3
"""make_corrupt_jpegs.py — the corrupt JPEG fixtures that stb_image 2.27 decodes without an error.

    scripts/make_corrupt_jpegs.py OUT_DIR BASELINE.jpg PROGRESSIVE.jpg BLOOD.jpg JPEG_IN.tif

Each is a real fixture damaged one deterministic way (jpegtran from libjpeg-turbo-progs adds restart
markers); decode_image() must refuse each as "JPEG decoded with errors: ..." (tests/unit/test_decode.cpp):
  jpeg_scan_cut_short.jpg           the first 60% of a baseline file, then an end-of-image marker (as a
                                    download cut short and "repaired"): stb decodes zeros for the rest
  jpeg_corrupt_40_bytes.jpg         40 bytes of the scan data of a 360x363 blood cell overwritten with
                                    random values (seeded): stb decodes blocky garbage
  jpeg_restart_misnumbered.jpg      restart markers after every MCU, the third renumbered RST2 -> RST5
  jpeg_progressive_scan_missing.jpg a progressive file without its first Cr AC scan: the Cr refinement
                                    scan then refines coefficients that were never sent
  jpeg_in_tiff_strip_cut_short.tif  a JPEG-compressed TIFF whose first strip has an end-of-image marker
                                    written halfway through its scan data
"""
import random
import struct
import subprocess
import sys


def segments(data):
    """(start, marker, end) of every segment up to EOI; a scan's end includes its entropy-coded data."""
    out, i = [], 2
    while i < len(data):
        assert data[i] == 0xFF
        marker = data[i + 1]
        if marker == 0xD9:
            out.append((i, marker, i + 2))
            return out
        end = i + 2 + struct.unpack('>H', data[i + 2:i + 4])[0]
        if marker == 0xDA:
            while not (data[end] == 0xFF and data[end + 1] != 0 and not 0xD0 <= data[end + 1] <= 0xD7):
                end += 1
        out.append((i, marker, end))
        i = end
    raise ValueError('no EOI')


def scan_data(data):
    """[first byte after the first scan header, the EOI) of a single-scan baseline file."""
    for start, marker, _ in segments(data):
        if marker == 0xDA:
            return start + 2 + struct.unpack('>H', data[start + 2:start + 4])[0], len(data) - 2
    raise ValueError('no scan')


def main():
    out, baseline, progressive, blood, tiff = sys.argv[1:6]

    data = open(baseline, 'rb').read()
    open(f'{out}/jpeg_scan_cut_short.jpg', 'wb').write(data[:len(data) * 6 // 10] + b'\xff\xd9')

    data = bytearray(open(blood, 'rb').read())
    begin, end = scan_data(data)
    rng = random.Random(7)  # a seed for which stb decodes the result without an error
    for _ in range(40):
        data[rng.randrange(begin, end)] = rng.randrange(256)
    open(f'{out}/jpeg_corrupt_40_bytes.jpg', 'wb').write(bytes(data))

    data = bytearray(subprocess.run(['jpegtran', '-restart', '1B', baseline], check=True, capture_output=True).stdout)
    rst = [i for i in range(len(data) - 1) if data[i] == 0xFF and 0xD0 <= data[i + 1] <= 0xD7]
    assert data[rst[2] + 1] == 0xD2
    data[rst[2] + 1] = 0xD5
    open(f'{out}/jpeg_restart_misnumbered.jpg', 'wb').write(bytes(data))

    data = open(progressive, 'rb').read()
    cut = None
    for start, marker, end in segments(data):
        if marker == 0xDA:
            ns = data[start + 4]
            ss, se, a = data[start + 5 + 2 * ns:start + 8 + 2 * ns]
            if ns == 1 and data[start + 5] == 3 and ss > 0 and a >> 4 == 0:  # component 3 (Cr), AC, first pass
                cut = (start, end)
                break
    assert cut
    open(f'{out}/jpeg_progressive_scan_missing.jpg', 'wb').write(data[:cut[0]] + data[cut[1]:])

    data = bytearray(open(tiff, 'rb').read())
    assert data[:4] == b'II*\x00'
    ifd = struct.unpack('<I', data[4:8])[0]
    tags = {}
    for k in range(struct.unpack('<H', data[ifd:ifd + 2])[0]):
        tag, kind, count, value = struct.unpack('<HHII', data[ifd + 2 + 12 * k:ifd + 14 + 12 * k])
        if count == 1:
            tags[tag] = value & 0xFFFF if kind == 3 else value
        else:  # an array of LONG or SHORT at offset `value`: the first strip's entry
            tags[tag] = struct.unpack_from('<I' if kind == 4 else '<H', data, value)[0]
    start, length = tags[273], tags[279]
    strip = bytes(data[start:start + length])
    sos = strip.index(b'\xff\xda')
    scan = sos + 2 + struct.unpack('>H', strip[sos + 2:sos + 4])[0]
    middle = start + scan + (length - scan) // 2
    data[middle:middle + 2] = b'\xff\xd9'
    open(f'{out}/jpeg_in_tiff_strip_cut_short.tif', 'wb').write(bytes(data))


if __name__ == '__main__':
    main()
