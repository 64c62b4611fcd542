#!/usr/bin/env bash
# train_throughput.sh — training images/s of cellcam (C++, LibTorch) against PyTorch (Python, Debian's
# python3-torch 1.13.1: the same kernels) on the same files, network, batch, input size and threads,
# side by side in one run. Prints a Markdown row per side for BENCHMARKS.md.
#
#   bench/train_throughput.sh [DATA] [EPOCHS]        (after `make native`)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --bench
DATA=${1:-../shared/data/malaria}
EPOCHS=${2:-2}
OUT=build/bench/train_throughput
THREADS=2
rm -rf "$OUT" && mkdir -p "$OUT"

build/cellcam train "$DATA" --out "$OUT/cellcam" --preset malaria_bn_se --image-size 64 --epochs "$EPOCHS" \
  --batch-size 64 --augment hflip,vflip --schedule constant --patience 0 --threads $THREADS --workers 1 \
  > "$OUT/cellcam.log" 2>&1
/usr/bin/python3 bench/pytorch_train.py --run "$OUT/cellcam" --epochs "$EPOCHS" --threads $THREADS --workers 1 \
  > "$OUT/pytorch.json"
# The same Python with cellcam's heap settings (configure_heap: no mmap()ed blocks, trim past 1 GiB), so
# the comparison separates the allocator from the rest.
MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=1073741824 MALLOC_TOP_PAD_=67108864 \
  /usr/bin/python3 bench/pytorch_train.py --run "$OUT/cellcam" --epochs "$EPOCHS" --threads $THREADS --workers 1 \
  > "$OUT/pytorch_heap.json"

/usr/bin/python3 - "$OUT" <<'PY'
import csv, json, sys
out = sys.argv[1]
rows = list(csv.DictReader(open(f"{out}/cellcam/metrics.csv")))
py = json.load(open(f"{out}/pytorch.json"))["epochs"]
py_heap = json.load(open(f"{out}/pytorch_heap.json"))["epochs"]
# The first epoch pays one-time costs (oneDNN primitives, worker start-up): report the last.
c_ips, c_wait = float(rows[-1]["images_per_second"]), float(rows[-1]["data_wait_share"])
p_ips, p_wait = py[-1]["images_per_second"], py[-1]["data_wait_share"]
print(f"| cellcam (C++ loader + LibTorch) | {c_ips:.0f} | {100 * c_wait:.1f}% | {c_ips / p_ips:.2f}x |")
print(f"| PyTorch Python (DataLoader, 1 worker) | {p_ips:.0f} | {100 * p_wait:.1f}% | 1.00x |")
h_ips, h_wait = py_heap[-1]["images_per_second"], py_heap[-1]["data_wait_share"]
print(f"| PyTorch Python, cellcam's heap settings (MALLOC_MMAP_MAX_=0 ...) | {h_ips:.0f} | {100 * h_wait:.1f}% | {h_ips / p_ips:.2f}x |")
PY
