"""The tables of scripts/scaling.sh from the runs' dist.json files: OUT BATCH IMAGES CORES REPEATS LM_STEPS."""
import datetime
import json
import os
import platform
import statistics
import sys

out, batch, images, cores, repeats, lm_steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.machine())
lines = [f"{cpu}, {cores} cores, {datetime.date.today()}; `bash scripts/scaling.sh`, medians of {repeats} repeats.", ""]
tasks = [
    ("fm", "images", f"Fashion-MNIST ResNet-8/8 bf16 + channels-last, global batch {batch}, {images} training images, 1 epoch"),
    ("lm", "tokens", f"PTB LSTM 2×200 fp32, global batch 20 × bptt 35, {lm_steps} teacher steps"),
]
setups = [("w1-t1", "1 rank × 1 thread", 1), (f"w1-t{cores}", f"1 rank × {cores} threads", cores), ("w2-t1", "2 ranks × 1 thread", 2)]
for task, unit, what in tasks:
    rows = []
    for name, label, used in setups:
        files = [f"{out}/{task}-{name}-r{r}/dist.json" for r in range(1, repeats + 1)]
        ds = [json.load(open(f)) for f in files if os.path.exists(f)]
        if not ds:
            continue
        v = [d[f"teacher_{unit}_per_s"] for d in ds]
        share = statistics.median(d["allreduce_share"] for d in ds)
        rows.append((label, used, ds[0]["per_rank_batch"], statistics.median(v), min(v), max(v), share, len(ds)))
    base = rows[0][3]
    lines += [
        f"{what}:",
        "",
        f"| processes | per-rank batch | teacher {unit}/s, median (min–max, runs) | vs 1 rank × 1 thread | scaling efficiency | all-reduce share of the training time |",
        "|---|---|---|---|---|---|",
    ]
    for label, used, per, med, lo, hi, share, n in rows:
        lines.append(f"| {label} | {per} | {med:.0f} ({lo:.0f}–{hi:.0f}, {n}) | {med / base:.2f}× | {100 * med / (base * used):.0f} % | {100 * share:.1f} % |")
    lines.append("")
lines.append(
    "Scaling efficiency: throughput divided by (cores used × the 1-thread throughput). All-reduce share: rank 0's "
    "seconds in gradient all-reduces over its training seconds, waiting for the other rank included (at world size 1 "
    "the group has one rank and the all-reduce is a copy)."
)
open(f"{out}/scaling.md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
