#!/usr/bin/env bash
# MinAtar env steps/s, ours (crates/minatar, Rust) against the minatar Python package, one thread
# each, random actions, observation taken every step. Prints a table with the ratio and the CPU.
#   bash scripts/bench_minatar.sh [RUST_STEPS] [PYTHON_STEPS]
set -euo pipefail
cd "$(dirname "$0")/.."
RUST_STEPS="${1:-2000000}"
PY_STEPS="${2:-50000}"
PY="$(bash scripts/minatar_venv.sh | tail -n1)"
cargo build --release -q -p minatar --example bench
TARGET="${CARGO_TARGET_DIR:-target}"
ours="$("$TARGET/release/examples/bench" "$RUST_STEPS")"
theirs="$("$PY" scripts/bench_minatar.py "$PY_STEPS" 2>/dev/null)"
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
echo "steps: $RUST_STEPS (Rust), $PY_STEPS (Python); one thread each"
join <(echo "$ours" | sort) <(echo "$theirs" | sort) |
    awk 'BEGIN { printf "%-15s %14s %14s %8s\n", "game", "ours steps/s", "python steps/s", "ratio" }
         { printf "%-15s %14.0f %14.0f %7.0fx\n", $1, $2, $3, $2 / $3 }'
