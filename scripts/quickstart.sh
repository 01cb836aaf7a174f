#!/usr/bin/env bash
# The main job: set up, build, fetch Fashion-MNIST, then train LoT and a teacher-only baseline
# (a few minutes on 2 CPU cores) and print the side-by-side table. Extra args go to `lot demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
cargo build --release --quiet
./target/release/lot data list | grep -q '^fashion-mnist *present' || ./target/release/lot data fetch fashion-mnist
exec ./target/release/lot demo "$@"
