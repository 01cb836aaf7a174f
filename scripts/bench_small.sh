#!/usr/bin/env bash
# The demo's model against the reference re-implementation, fp32, on this CPU's kernels and on
# AVX2-restricted ones (ATen, oneDNN and MKL limited to AVX2: what an AMD Zen 1/2 runs), ours in
# NCHW and channels-last; reports into benches/results/resnet8_*.json (docs/cpu.md, BENCHMARKS.md).
# About 15 minutes on 2 cores; run it on a quiet machine.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
export LOT_NO_PROGRESS=1
LOT="${LOT_BIN:-./target/release/lot}"
args=(bench vision --depth 8_8 --batch-size 128 --threads 1 --steps 30 --warmup 5 --repeats 2 --workers 0)
AVX2=(ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 LOT_CPU_BF16=none)
for kernels in native avx2; do
  envs=(); [ "$kernels" = avx2 ] && envs=("${AVX2[@]}")
  for layout in nchw cl; do
    extra=(); [ "$layout" = cl ] && extra=(--channels-last)
    out="benches/results/resnet8_fp32_${layout}_${kernels}.json"
    echo "bench: $kernels kernels, $layout -> $out" >&2
    s=$SECONDS
    env "${envs[@]}" "$LOT" "${args[@]}" "${extra[@]}" --out "$out"
    echo "bench: $kernels $layout took $((SECONDS - s)) s" >&2
  done
done
