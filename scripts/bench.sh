#!/usr/bin/env bash
# Every speed benchmark, one after the other, reports into benches/results/ (what BENCHMARKS.md
# quotes). Run it on a quiet machine: anything else running skews the ratios.
#   bash scripts/bench.sh                 # all: vision fp32 / bf16+channels-last, lstm 200 and 650
#                                         # fp32 / bf16, Transformer-XL fp32 / bf16, ppo, overhead
#   bash scripts/bench.sh --repeats 5     # extra options go to every `lot bench` call
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash benches/reference/setup.sh
source scripts/env.sh
export LOT_NO_PROGRESS=1
cargo build --release -p lot-cli
L=./target/release/lot
R=benches/results
mkdir -p "$R"
echo "bench: start $(date -u +%FT%TZ), load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
$L bench vision --out "$R/vision_fp32.json" "$@"
$L bench vision --precision bf16 --channels-last --out "$R/vision_bf16_cl.json" "$@"
$L bench lstm --nhid 200 --out "$R/lstm.json" "$@"
$L bench lstm --nhid 650 --steps 8 --warmup 2 --out "$R/lstm650_fp32.json" "$@"
$L bench lstm --nhid 650 --steps 8 --warmup 2 --precision bf16 --out "$R/lstm650_bf16.json" "$@"
$L bench txl --steps 3 --warmup 1 --out "$R/txl_fp32.json" "$@"
$L bench txl --precision bf16 --steps 3 --warmup 1 --out "$R/txl_bf16.json" "$@"
$L bench ppo --steps 50 --out "$R/ppo.json" "$@"
$L bench overhead --out "$R/overhead_fp32.json" "$@"
$L bench overhead --precision bf16 --channels-last --out "$R/overhead_bf16_cl.json" "$@"
echo "bench: end $(date -u +%FT%TZ), load $(cut -d' ' -f1-3 /proc/loadavg); reports in $R/" >&2
