#!/usr/bin/env bash
# Data-parallel throughput on this machine: LoT teacher images/s of `lot train` as one process
# (1 thread, then all cores) and of `lot launch` with 2 ranks of 1 thread each, at the same global
# batch, on Fashion-MNIST (the quick config's ResNet-8/8, bf16 + channels-last, no evaluation
# besides a 500-image validation split). Writes results to $OUT (default runs/scaling):
# scaling.md (the table) and each run's folder with dist.json (the all-reduce share).
#
#   bash scripts/scaling.sh                    # global batch 128, 8,000 training images, 1 epoch, 3 repeats
#   BATCH=256 IMAGES=16000 REPEATS=5 bash scripts/scaling.sh
# The three set-ups alternate within each repeat; the table gives medians and ranges.
#
# Nothing else should run meanwhile (one CPU-heavy job at a time).
set -euo pipefail
cd "$(dirname "$0")/.."
BATCH="${BATCH:-128}"
IMAGES="${IMAGES:-8000}"
REPEATS="${REPEATS:-3}"
OUT="${OUT:-runs/scaling}"
LOT="${LOT_BIN:-./target/release/lot}"
if [ -z "${LOT_BIN:-}" ]; then
  bash scripts/setup.sh
  # shellcheck disable=SC1091
  source scripts/env.sh
  cargo build --release --quiet -p lot-cli
else
  # shellcheck disable=SC1091
  source scripts/env.sh
fi
export LOT_NO_PROGRESS=1
CFG=configs/quick_fashion_mnist_lot.toml
SETS=(--set train.epochs=1 --set data.train_limit="$IMAGES" --set data.valid_limit=500)
rm -rf "$OUT"
mkdir -p "$OUT"
cores=$(nproc)

# name, ranks, threads per rank
run() {
  local name=$1 ranks=$2 threads=$3 per=$(($BATCH / $2))
  "$LOT" launch --nproc-per-node "$ranks" -- train "$CFG" "${SETS[@]}" --set run.threads="$threads" \
    --set train.batch_size="$per" --out "$OUT/$name" >"$OUT/$name.log" 2>&1
}
for r in $(seq 1 "$REPEATS"); do
  run "w1-t1-r$r" 1 1
  run "w1-t$cores-r$r" 1 "$cores"
  run "w2-t1-r$r" 2 1
done

python3 - "$OUT" "$BATCH" "$IMAGES" "$cores" "$REPEATS" <<'EOF'
import json, sys, datetime, platform, statistics
out, batch, images, cores, repeats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.machine())
rows = []
for name, label in [("w1-t1", "1 rank × 1 thread"), (f"w1-t{cores}", f"1 rank × {cores} threads"), ("w2-t1", "2 ranks × 1 thread")]:
    ds = [json.load(open(f"{out}/{name}-r{r}/dist.json")) for r in range(1, repeats + 1)]
    ips = [d["teacher_images_per_s"] for d in ds]
    d = dict(ds[0])
    d["teacher_images_per_s"] = statistics.median(ips)
    d["range"] = (min(ips), max(ips))
    d["allreduce_share"] = statistics.median(x["allreduce_share"] for x in ds)
    rows.append((label, d))
base = rows[0][1]["teacher_images_per_s"]
lines = [f"Data-parallel LoT throughput, Fashion-MNIST ResNet-8/8 bf16 + channels-last, global batch {batch}, "
         f"{images} training images, 1 epoch ({rows[0][1]['teacher_steps']} teacher steps); {cpu}, {cores} cores, "
         f"{datetime.date.today()}; `bash scripts/scaling.sh`, medians of {repeats} repeats.", "",
         "| processes | per-rank batch | teacher images/s (min–max) | vs 1 rank × 1 thread | scaling efficiency | all-reduce share of the training time |",
         "|---|---|---|---|---|---|"]
for label, d in rows:
    ips = d["teacher_images_per_s"]
    w = d["world_size"]
    threads = cores if f"{cores} threads" in label else 1
    eff = ips / (base * w * threads)
    lo, hi = d["range"]
    lines.append(f"| {label} | {d['per_rank_batch']} | {ips:.1f} ({lo:.0f}–{hi:.0f}) | {ips / base:.2f}× | {100 * eff:.0f} % | {100 * d['allreduce_share']:.1f} % |")
lines.append("")
lines.append("Scaling efficiency: images/s divided by (cores used × the 1-thread images/s). All-reduce share: "
             "rank 0's seconds in gradient all-reduces over its training seconds, waiting for the other rank included "
             "(at world size 1 the group has one rank and the all-reduce is a copy).")
open(f"{out}/scaling.md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
EOF
