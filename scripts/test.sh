#!/usr/bin/env bash
# The test suite: set up (cached torch venv), then every unit and integration test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
export LOT_NO_PROGRESS=1
cargo test --workspace --release "$@"
