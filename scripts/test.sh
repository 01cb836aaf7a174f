#!/usr/bin/env bash
# The test suite: set up (cached torch venv), the import-cycle check, then every unit and
# integration test. LOT_NO_SKIP=1 turns tests that skip for a missing dependency (Python with
# torch, PTB, a font, ROMs) into failures, for machines that have everything.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The MinAtar trace test's reference (the minatar package); without it that test skips.
bash scripts/minatar_venv.sh >/dev/null || echo "scripts/minatar_venv.sh failed: the MinAtar trace test will skip" >&2
source scripts/env.sh
export LOT_NO_PROGRESS=1
# The library's modules import each other without cycles (docs/architecture.md).
python3 scripts/import_cycles.py
cargo test --workspace --release "$@"
