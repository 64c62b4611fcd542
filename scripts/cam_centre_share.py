#!/usr/bin/env python3
# cam_centre_share.py — usage: scripts/cam_centre_share.py GRADCAM_OUT_DIR... (folders written by `cellcam gradcam`)
# share of each CAM's mass in the centre 32x32 of a 96x96 PCam patch (the region the label describes), from
# cellcam gradcam's jet heatmap PNGs (inverted through matplotlib's jet LUT)
import os, struct, sys, zlib
def png_rgb(path):
    d = open(path, 'rb').read(); pos = 8; idat = b''
    while pos < len(d):
        n, t = struct.unpack('>I4s', d[pos:pos+8]); body = d[pos+8:pos+8+n]; pos += 12 + n
        if t == b'IHDR': w, h, bd, ct = struct.unpack('>IIBB', body[:10])
        elif t == b'IDAT': idat += body
    raw = zlib.decompress(idat); bpp = 3; stride = w*bpp; out = []; prev = bytearray(stride); i = 0
    for y in range(h):
        f = raw[i]; line = bytearray(raw[i+1:i+1+stride]); i += 1 + stride
        for x in range(stride):
            a = line[x-bpp] if x >= bpp else 0; b = prev[x]; c = prev[x-bpp] if x >= bpp else 0
            if f == 1: line[x] = (line[x] + a) & 255
            elif f == 2: line[x] = (line[x] + b) & 255
            elif f == 3: line[x] = (line[x] + (a + b)//2) & 255
            elif f == 4:
                p = a + b - c; pa, pb, pc = abs(p-a), abs(p-b), abs(p-c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        out.append(line); prev = line
    return w, h, out
seg = {'r': ((0,0),(0.35,0),(0.66,1),(0.89,1),(1,0.5)), 'g': ((0,0),(0.125,0),(0.375,1),(0.64,1),(0.91,0),(1,0)),
       'b': ((0,0.5),(0.11,1),(0.34,1),(0.65,0),(1,0))}
def interp(s, x):
    for (x0,y0),(x1,y1) in zip(s, s[1:]):
        if x0 <= x <= x1: return y0 + (y1-y0)*(x-x0)/(x1-x0)
lut = [tuple(round(255*interp(seg[c], k/255)) for c in 'rgb') for k in range(256)]
cache = {}
def value(px):
    if px not in cache: cache[px] = min(range(256), key=lambda k: sum((a-b)**2 for a, b in zip(lut[k], px)))/255
    return cache[px]
for layer in sys.argv[1:]:
    shares = []
    for f in sorted(os.listdir(layer)):
        if not f.endswith('.heatmap.png'): continue
        w, h, rows = png_rgb(os.path.join(layer, f))
        v = [[value(tuple(r[3*x:3*x+3])) for x in range(w)] for r in rows]
        total = sum(map(sum, v)); lo, hi = w//3, 2*w//3
        centre = sum(v[y][x] for y in range(lo, hi) for x in range(lo, hi))
        if total > 0: shares.append(centre/total)
    shares.sort(); n = len(shares); m = sum(shares)/n
    print(f"{os.path.basename(layer)}: n={n} mean centre share {m:.3f} (uniform 0.111), median {shares[n//2]:.3f}")
