#!/usr/bin/env bash
# The CUDA toolkit headers that the NCCL backend (cargo feature `cuda`) compiles against and the
# torch 2.11.0 wheel lacks: crt/ and cccl/ from NVIDIA's PyPI wheels for CUDA 13.0 (the wheel's
# runtime), extracted under ~/.cache/lot/cuda-headers (or $LOT_CUDA_HEADERS_ROOT). Headers only:
# nothing is installed into the venv. Prints the include folder (what LOT_CUDA_HEADERS may name).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="${LOT_CUDA_HEADERS_ROOT:-${LOT_CACHE:-$HOME/.cache/lot}/cuda-headers}"
INC="$ROOT/nvidia/cu13/include"
if [ -f "$INC/crt/host_config.h" ] && [ -d "$INC/cccl" ]; then
  echo "$INC"
  exit 0
fi
bash scripts/setup.sh >/dev/null 2>&1
PY="${LOT_VENV:-${LOT_CACHE:-$HOME/.cache/lot}/venv}/bin/python"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$PY" -m pip download --quiet --no-deps -d "$tmp" nvidia-cuda-crt==13.0.88 nvidia-cuda-cccl==13.0.85 >&2
mkdir -p "$ROOT"
for w in "$tmp"/*.whl; do
  "$PY" -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' "$w" "$ROOT"
done
[ -f "$INC/crt/host_config.h" ] || { echo "error: cuda-headers: $INC/crt/host_config.h missing after extraction" >&2; exit 1; }
echo "$INC"
