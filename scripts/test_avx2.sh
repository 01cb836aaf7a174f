#!/usr/bin/env bash
# The library and CLI tests on the kernels of an AVX2-only CPU (AMD Zen 1/2: no AVX-512, no
# native bf16), whatever CPU this is: ATen's dispatch, oneDNN and MKL restricted to AVX2 and the
# bf16 detection forced to "none", so `precision = "auto"` resolves to fp32 as it would there.
# --no-fail-fast: one failing test binary does not hide the others. CI runs it after
# scripts/test.sh (which builds everything this needs).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
export LOT_NO_PROGRESS=1
export ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 LOT_CPU_BF16=none
cargo test --release -p lot -p lot-cli --no-fail-fast "$@"
