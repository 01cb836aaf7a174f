#!/usr/bin/env bash
# Install what building and running lot needs, reusing what is already there:
# a Python venv with torch==2.11.0 (libtorch for tch 0.24) cached outside the clone.
set -euo pipefail
LOT_CACHE="${LOT_CACHE:-$HOME/.cache/lot}"
VENV="${LOT_VENV:-$LOT_CACHE/venv}"
TORCH_VERSION=2.11.0
mkdir -p "$LOT_CACHE"
if ! "$VENV/bin/python" -c "import torch,sys; sys.exit(0 if torch.__version__.split('+')[0]=='$TORCH_VERSION' else 1)" 2>/dev/null; then
  echo "setup: installing torch==$TORCH_VERSION into $VENV (large download, once)" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "torch==$TORCH_VERSION"
fi
command -v cargo >/dev/null || { echo "setup: cargo not found; install Rust (https://rustup.rs)" >&2; exit 1; }
echo "setup: torch $TORCH_VERSION ready in $VENV" >&2
