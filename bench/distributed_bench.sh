#!/usr/bin/env bash
# distributed_bench.sh — data-parallel training on this machine: 1 process x 2 threads against 2 ranks x
# 1 thread (`--nproc 2`, Gloo over loopback), side by side in one run: the shipped malaria recipe
# (models/malaria/README.md), same patient split, global batch 64 (64 on one process, 32 on each rank),
# seed and epochs. Prints Markdown rows for BENCHMARKS.md: training images/s (mean over the epochs after
# the first), the share of rank 0's step time spent in collectives (gradient all-reduce, loss sums), the
# all-reduce's cost per step, and both runs' test metrics (95% intervals: Wilson for accuracy,
# Hanley-McNeil for ROC-AUC), so the 2-rank model can be compared with the 1-process one.
#
#   bench/distributed_bench.sh [DATA] [EPOCHS]        (after `make native`; ~15 min at 20 epochs here)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-../shared/data/malaria}
EPOCHS=${2:-20}
OUT=build/bench/distributed
rm -rf "$OUT" && mkdir -p "$OUT"
COMMON=(--preset malaria_bn_se --image-size 64 --epochs "$EPOCHS" --lr 2e-3 --patience 0 --ema 0.998 --stain-norm
        --augment cells,saturation=0.3,hue=0.08,brightness=0.2,contrast=0.2 --positive-class Parasitized)

build/cellcam train "$DATA" --out "$OUT/one" "${COMMON[@]}" --batch-size 64 --threads 2 > "$OUT/one.log" 2>&1
build/cellcam train "$DATA" --out "$OUT/two" "${COMMON[@]}" --batch-size 32 --nproc 2 > "$OUT/two.log" 2>&1

python3 - "$OUT" <<'PY'
import csv, json, math, sys
out = sys.argv[1]
def rows(run): return list(csv.DictReader(open(f"{out}/{run}/metrics.csv")))
def rate(run):
    r = rows(run)[1:] or rows(run)
    return sum(float(x["images_per_second"]) for x in r) / len(r)
def wilson(p, n, z=1.96):
    c = (p + z*z/(2*n)) / (1 + z*z/n); h = z * math.sqrt(p*(1-p)/n + z*z/(4*n*n)) / (1 + z*z/n)
    return c - h, c + h
def hanley(a, npos, nneg):
    q1, q2 = a/(2-a), 2*a*a/(1+a)
    se = math.sqrt((a*(1-a) + (npos-1)*(q1-a*a) + (nneg-1)*(q2-a*a)) / (npos*nneg)); return a - 1.96*se, a + 1.96*se
def metrics(run):
    t = json.load(open(f"{out}/{run}/report.json"))["test"]
    n = sum(t["confusion"]["counts"]); pos = next(c for c in t["per_class"] if c["class"] == "Parasitized")
    lo, hi = wilson(t["accuracy"], n); alo, ahi = hanley(t["roc_auc"], pos["support"], n - pos["support"])
    return (f"{100*t['accuracy']:.2f}% [{100*lo:.2f}, {100*hi:.2f}] | {t['roc_auc']:.4f} [{alo:.4f}, {min(ahi,1):.4f}] | "
            f"{100*pos['recall']:.2f}% | n={n}")
one, two = rate("one"), rate("two")
share = sum(float(r["comm_share"]) for r in rows("two")[1:]) / max(len(rows("two")) - 1, 1)
steps = [r for r in csv.DictReader(open(f"{out}/two/steps.csv"))]
seconds = sum(float(r["seconds"]) for r in rows("two")[1:])
per_step = 1000 * share * seconds / max(sum(1 for r in steps if int(r["epoch"]) > 1), 1)
params = json.load(open(f"{out}/one/report.json"))["parameters"]
print("| run | train images/s | collectives | ratio | test accuracy [95% CI] | test ROC-AUC [95% CI] | sensitivity | |")
print("|---|---|---|---|---|---|---|---|")
print(f"| 1 process x 2 threads, batch 64 | {one:.0f} | - | 1.00 | {metrics('one')} |")
print(f"| 2 ranks x 1 thread (Gloo, loopback), 32 each | {two:.0f} | {100*share:.1f}% | {two/one:.2f} | {metrics('two')} |")
print(f"\n{params} parameters = {4*params/1e6:.2f} MB of float32 gradients a step; collectives {per_step:.2f} ms a step (rank 0, epochs 2-)")
PY
