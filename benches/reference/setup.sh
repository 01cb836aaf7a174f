#!/usr/bin/env bash
# Python needs of the reference programs in benches/reference/: torch==2.11.0 (the same wheel whose
# libtorch lot links), in the same cached venv as scripts/setup.sh. No torchvision: the transforms
# are written in torch. By default nothing else is installed; this checks that the programs start.
#
# `setup.sh --atari` (or LOT_REFERENCE_ATARI=1) also installs, pinned, what ppo_lot.py's Atari path
# needs (`lot bench ppo --env BreakoutNoFrameskip-v4`): cleanRL ppo_atari.py's stack, i.e. gymnasium,
# ale-py 0.12.1 (the ALE our `atari` feature builds; its wheel ships the ROMs), stable-baselines3
# (its atari_wrappers) and opencv-python-headless (ResizeObservation, gray), with numpy. pip only
# adds packages: torch is held at $TORCH_VERSION by a constraints file and checked afterwards.
set -euo pipefail
cd "$(dirname "$0")/../.."
ATARI="${LOT_REFERENCE_ATARI:-0}"
for a in "$@"; do
  case "$a" in
    --atari) ATARI=1 ;;
    *) echo "usage: benches/reference/setup.sh [--atari]" >&2; exit 2 ;;
  esac
done
LOT_CACHE="${LOT_CACHE:-$HOME/.cache/lot}"
VENV="${LOT_VENV:-$LOT_CACHE/venv}"
TORCH_VERSION=2.11.0
ATARI_PACKAGES=(
  "ale-py==0.12.1"
  "gymnasium==1.4.0"
  "stable-baselines3==2.9.2"
  "opencv-python-headless==5.0.0.93"
  "numpy==2.3.5"
)
torch_ok() {
  "$VENV/bin/python" -c "import torch,sys; sys.exit(0 if torch.__version__.split('+')[0]=='$TORCH_VERSION' else 1)" 2>/dev/null
}
if ! torch_ok; then
  echo "benches/reference/setup.sh: installing torch==$TORCH_VERSION into $VENV" >&2
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "torch==$TORCH_VERSION"
fi
progs=(vision_lot.py lstm_lot.py ppo_lot.py)
if [ "$ATARI" = 1 ]; then
  if ! "$VENV/bin/python" - "${ATARI_PACKAGES[@]}" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
sys.exit(0 if all(version(p.split("==")[0]) == p.split("==")[1] for p in sys.argv[1:]) else 1)
PY
  then
    echo "benches/reference/setup.sh: installing ${ATARI_PACKAGES[*]} into $VENV" >&2
    constraints="$(mktemp)"
    trap 'rm -f "$constraints"' EXIT
    echo "torch==$TORCH_VERSION" >"$constraints"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -c "$constraints" "${ATARI_PACKAGES[@]}"
  fi
  torch_ok || { echo "benches/reference/setup.sh: torch is no longer $TORCH_VERSION in $VENV" >&2; exit 1; }
  # The whole Atari stack imports and Breakout (ROM from the ale-py wheel) steps.
  "$VENV/bin/python" -W ignore -c '
import gymnasium as gym, ale_py, cv2, stable_baselines3.common.atari_wrappers
gym.register_envs(ale_py)
e = gym.make("BreakoutNoFrameskip-v4"); e.reset(seed=0); e.step(1); e.close()'
fi
for prog in "${progs[@]}"; do
  "$VENV/bin/python" -W ignore benches/reference/$prog --help >/dev/null
done
echo "benches/reference: ready ($("$VENV/bin/python" -c 'import torch; print("torch", torch.__version__)' 2>/dev/null)$([ "$ATARI" = 1 ] && "$VENV/bin/python" -c 'import ale_py, gymnasium, stable_baselines3 as s; print(f", ale-py {ale_py.__version__}, gymnasium {gymnasium.__version__}, stable-baselines3 {s.__version__}")' 2>/dev/null), $VENV/bin/python)" >&2
