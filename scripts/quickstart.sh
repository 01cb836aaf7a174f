#!/usr/bin/env bash
# The main job: set up, build, fetch Fashion-MNIST, then train LoT and a teacher-only baseline over
# 3 seeds (about 10 minutes on 2 CPU cores) and print mean ± std per mode and the paired difference
# with its 95 % interval. Extra args go to `lot demo` (e.g. --seeds 0,1,2,3,4).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
cargo build --release --quiet
./target/release/lot data list | grep -q '^fashion-mnist *present' || ./target/release/lot data fetch fashion-mnist
exec ./target/release/lot demo "$@"
