#!/usr/bin/env bash
# Accuracy guard for the bf16 fast path: Fashion-MNIST ResNet-20 LoT trained in fp32 and in bf16 +
# channels-last with the same seeds, final test accuracies compared (the issue's bound: the mean
# over 3 seeds within 0.3 points). Any `lot bench accuracy` option passes through, e.g.
#   bash scripts/accuracy_guard.sh                          # the small version (minutes on 2 cores)
#   bash scripts/accuracy_guard.sh --epochs 8 --train-limit 20000 --test-limit 0 --set train.lr=0.1 \
#     --out runs/accuracy-fm-e8-20k-lr0.1                     # BENCHMARKS.md's run (~45 min on 2 cores)
#   bash scripts/accuracy_guard.sh --epochs 30 --train-limit 0 --test-limit 0 --out runs/accuracy-full
# The full version (30 epochs, 60k images, 3 seeds × 2 precisions) takes many CPU hours.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
export LOT_NO_PROGRESS="${LOT_NO_PROGRESS:-1}"
[ -x target/release/lot ] || cargo build --release -p lot-cli
if ! ./target/release/lot data list | grep -q '^fashion-mnist *present'; then
  ./target/release/lot data fetch fashion-mnist
fi
# Defaults: the small version; later arguments override these.
exec ./target/release/lot bench accuracy --seeds 0,1,2 --epochs 2 --train-limit 10000 --test-limit 5000 \
  --out runs/accuracy-guard-small "$@"
