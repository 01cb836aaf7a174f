#!/usr/bin/env bash
# The Python side of the MinAtar trace test and benchmark: a venv with the `minatar` package (the
# reference the Rust games are checked against, step for step) and numpy. Only the package registry
# is needed; matplotlib/seaborn (minatar's display dependencies) are left out on purpose, so
# `--no-deps` (the games import numpy only; the package logs that it cannot render, harmlessly).
# Prints the venv's python on the last line.
set -euo pipefail
LOT_CACHE="${LOT_CACHE:-$HOME/.cache/lot}"
VENV="${LOT_MINATAR_VENV:-$LOT_CACHE/minatar-venv}"
PY="$VENV/bin/python"
if ! "$PY" -c 'import minatar, numpy' >/dev/null 2>&1; then
    python3 -m venv "$VENV"
    "$PY" -m pip install --quiet --disable-pip-version-check numpy
    "$PY" -m pip install --quiet --disable-pip-version-check --no-deps minatar==1.0.15
    "$PY" -c 'import minatar, numpy' >/dev/null 2>&1
fi
echo "$PY"
