#!/usr/bin/env bash
# MinAtar env steps/s, ours (crates/minatar, Rust) against the minatar Python package, one thread
# each, random actions, observation taken every step (ours: as cells, and also written out as f32).
# Prints a table with the ratios and the CPU.
# Each figure is the best of REPEATS timings (the least disturbed by the rest of the machine).
#   bash scripts/bench_minatar.sh [RUST_STEPS] [PYTHON_STEPS] [REPEATS]
set -euo pipefail
cd "$(dirname "$0")/.."
RUST_STEPS="${1:-1000000}"
PY_STEPS="${2:-50000}"
REPEATS="${3:-5}"
PY="$(bash scripts/minatar_venv.sh | tail -n1)"
cargo build --release -q -p minatar --example bench
TARGET="${CARGO_TARGET_DIR:-target}"
ours="$("$TARGET/release/examples/bench" "$RUST_STEPS" "$REPEATS")"
theirs="$("$PY" scripts/bench_minatar.py "$PY_STEPS" "$REPEATS" 2>/dev/null)"
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
echo "steps: $RUST_STEPS (Rust), $PY_STEPS (Python), best of $REPEATS timings each; one thread each"
# Ours in two columns (the cells, like the package's bool state(); and written as f32 for torch),
# each against the package.
join <(echo "$ours" | sort) <(echo "$theirs" | sort) |
    awk 'BEGIN { printf "%-15s %14s %8s %14s %8s %14s\n", "game", "ours cells/s", "ratio", "ours f32/s", "ratio", "python steps/s" }
         { printf "%-15s %14.0f %7.0fx %14.0f %7.0fx %14.0f\n", $1, $2, $2 / $4, $3, $3 / $4, $4 }'
