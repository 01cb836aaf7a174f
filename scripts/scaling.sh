#!/usr/bin/env bash
# Data-parallel throughput on this machine: LoT teacher images/s (tokens/s) of `lot train` as one
# process (1 thread, then all cores) and of `lot launch` with 2 ranks of 1 thread each, at the same
# global batch, on Fashion-MNIST (the quick config's ResNet-8/8, bf16 + channels-last) and on PTB
# (the 2×200 LSTM of configs/lstm_ptb_small_lot.toml, fp32, $LM_STEPS (24) teacher steps at global
# batch 20). About 10 minutes on 2 cores.
# Evaluations are left out of the throughput. Writes $OUT (default runs/scaling): scaling.md (the
# tables) and each run's folder with dist.json (throughput and the all-reduce share).
#
#   bash scripts/scaling.sh                    # global image batch 128, 8,000 images, 3 repeats
#   BATCH=256 IMAGES=16000 REPEATS=5 bash scripts/scaling.sh
#
# The set-ups alternate within each repeat; the tables give medians and ranges. Nothing else
# should run meanwhile (one CPU-heavy job at a time).
set -euo pipefail
cd "$(dirname "$0")/.."
BATCH="${BATCH:-128}"
IMAGES="${IMAGES:-8000}"
REPEATS="${REPEATS:-3}"
LM_STEPS="${LM_STEPS:-24}"
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
VISION=(configs/quick_fashion_mnist_lot.toml --set train.epochs=1 --set data.train_limit="$IMAGES" --set data.valid_limit=500)
LM=(configs/lstm_ptb_small_lot.toml --set train.max_steps="$LM_STEPS")
rm -rf "$OUT"
mkdir -p "$OUT"
cores=$(nproc)

# name, global batch, ranks, threads per rank, then the config and its --set arguments
run() {
  local name=$1 batch=$2 ranks=$3 threads=$4
  shift 4
  "$LOT" launch --nproc-per-node "$ranks" -- train "$@" --set run.threads="$threads" \
    --set train.batch_size=$((batch / ranks)) --out "$OUT/$name" >"$OUT/$name.log" 2>&1
}
for r in $(seq 1 "$REPEATS"); do
  for task in fm lm; do
    if [ "$task" = fm ]; then args=("${VISION[@]}"); b=$BATCH; else args=("${LM[@]}"); b=20; fi
    run "$task-w1-t1-r$r" "$b" 1 1 "${args[@]}"
    run "$task-w1-t$cores-r$r" "$b" 1 "$cores" "${args[@]}"
    run "$task-w2-t1-r$r" "$b" 2 1 "${args[@]}"
  done
done

python3 scripts/scaling_table.py "$OUT" "$BATCH" "$IMAGES" "$cores" "$REPEATS" "$LM_STEPS"
