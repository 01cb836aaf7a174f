#!/usr/bin/env bash
# Python needs of the reference programs in benches/reference/: only torch==2.11.0 (the same wheel
# whose libtorch lot links), in the same cached venv as scripts/setup.sh. No torchvision: the
# transforms are written in torch. Nothing else is installed; this checks that the programs start.
set -euo pipefail
cd "$(dirname "$0")/../.."
LOT_CACHE="${LOT_CACHE:-$HOME/.cache/lot}"
VENV="${LOT_VENV:-$LOT_CACHE/venv}"
TORCH_VERSION=2.11.0
if ! "$VENV/bin/python" -c "import torch,sys; sys.exit(0 if torch.__version__.split('+')[0]=='$TORCH_VERSION' else 1)" 2>/dev/null; then
  echo "benches/reference/setup.sh: installing torch==$TORCH_VERSION into $VENV" >&2
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "torch==$TORCH_VERSION"
fi
for prog in vision_lot.py lstm_lot.py ppo_lot.py; do
  "$VENV/bin/python" -W ignore benches/reference/$prog --help >/dev/null
done
echo "benches/reference: ready ($("$VENV/bin/python" -c 'import torch; print("torch", torch.__version__)' 2>/dev/null), $VENV/bin/python)" >&2
