#!/usr/bin/env bash
# distributed_bench.sh — data-parallel training on this machine: 1 process x 2 threads against 2 ranks x
# 1 thread (`--nproc 2`, Gloo over loopback), same data, network, global batch and epochs, side by side in
# one run; and the share of each rank's step time spent in collectives (gradient all-reduce, the loss sum).
# Prints Markdown rows for BENCHMARKS.md. The second epoch is the one compared (the first includes warm-up).
#
#   bench/distributed_bench.sh [DATA] [EPOCHS]        (after `make native`)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-../shared/data/malaria}
EPOCHS=${2:-2}
OUT=build/bench/distributed
rm -rf "$OUT" && mkdir -p "$OUT"
COMMON=(--preset malaria_bn_se --image-size 64 --epochs "$EPOCHS" --augment hflip,vflip --schedule constant
        --patience 0 --workers 1 --positive-class Parasitized)

build/cellcam train "$DATA" --out "$OUT/one" "${COMMON[@]}" --batch-size 64 --threads 2 > "$OUT/one.log" 2>&1
build/cellcam train "$DATA" --out "$OUT/two" "${COMMON[@]}" --batch-size 32 --threads 1 --nproc 2 > "$OUT/two.log" 2>&1

python3 - "$OUT" "$EPOCHS" <<'PY'
import csv, json, sys
out, epochs = sys.argv[1], int(sys.argv[2])
def last(run):
    return list(csv.DictReader(open(f"{out}/{run}/metrics.csv")))[-1]
one, two = last("one"), last("two")
params = json.load(open(f"{out}/one/report.json"))["parameters"]
ips1, ips2 = float(one["images_per_second"]), float(two["images_per_second"])
print(f"| 1 process x 2 threads, batch 64 | {ips1:.0f} img/s | - | 1.00 |")
print(f"| 2 ranks x 1 thread (Gloo, loopback), batch 32 each | {ips2:.0f} img/s | {100*float(two['comm_share']):.1f}% | {ips2/ips1:.2f} |")
# The all-reduce cost per step, from rank 0's share of the epoch and the steps it took.
steps = sum(1 for r in csv.DictReader(open(f"{out}/two/steps.csv")) if int(r["epoch"]) == int(two["epoch"]))
per_step_ms = 1000 * float(two["comm_share"]) * float(two["seconds"]) / max(steps, 1)
print(f"parameters {params}, {4*params/1e6:.2f} MB of float32 gradients a step; collectives {per_step_ms:.2f} ms a step over {steps} steps")
PY
