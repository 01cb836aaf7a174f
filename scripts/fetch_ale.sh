#!/usr/bin/env bash
# Fetch what `cargo build --features atari` needs (see docs/atari.md, "Building"):
#   1. cmake, into the cached lot venv ($LOT_VENV, put on PATH by scripts/env.sh) with pip,
#      or with apt-get when pip cannot install it;
#   2. the ALE 0.12.1 C++ sources, from the ale-py 0.12.1 sdist on PyPI (fetched with pip), into
#      third_party/ale-py-0.12.1/ (git-ignored: ALE sources are never committed). The sdist's ROMs
#      (src/ale/python/roms) and wasm bindings are dropped; ROMs come from `lot data fetch atari-roms`.
# Idempotent: does nothing when both are already there. ALE is GPL-2.0-only: a binary built with
# the `atari` feature links it statically and is GPL-2.0 when distributed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
LOT_CACHE="${LOT_CACHE:-$HOME/.cache/lot}"
VENV="${LOT_VENV:-$LOT_CACHE/venv}"
ALE_VERSION=0.12.1
SDIST="ale_py-$ALE_VERSION.tar.gz"
SDIST_SHA256=c503d574c5983e1063b451201ccb779d935919c0f6bf116fb0f4f8aa4c86d249
DEST="$ROOT/third_party/ale-py-$ALE_VERSION"
# Build tools pip needs to read the sdist's metadata (scikit-build-core backend), pinned.
TOOLS_VENV="$LOT_CACHE/ale-tools-venv"
TOOLS="scikit-build-core==0.11.6 nanobind==2.9.2"
CMAKE_PIP="cmake==3.31.6"

say() { echo "fetch_ale: $*" >&2; }

# --- 1. cmake -------------------------------------------------------------------------------
export PATH="$VENV/bin:$PATH"
if command -v cmake >/dev/null 2>&1; then
  say "cmake present: $(command -v cmake) ($(cmake --version | head -n1))"
else
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  if "$VENV/bin/pip" install --quiet --disable-pip-version-check "$CMAKE_PIP"; then
    say "installed $CMAKE_PIP into $VENV"
  elif command -v apt-get >/dev/null 2>&1; then
    say "pip could not install cmake; trying apt-get"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get install -y cmake zlib1g-dev || { $SUDO apt-get update && $SUDO apt-get install -y cmake zlib1g-dev; }
  fi
  command -v cmake >/dev/null 2>&1 || { say "cannot install cmake (pip and apt-get failed)"; exit 1; }
fi
# ALE links zlib: check for its header (Debian: zlib1g-dev).
if [ ! -e /usr/include/zlib.h ]; then
  say "warning: /usr/include/zlib.h not found; install zlib1g-dev (apt-get install zlib1g-dev)"
fi

# --- 2. ALE sources -------------------------------------------------------------------------
if [ -f "$DEST/CMakeLists.txt" ] && [ -d "$DEST/src/ale" ] && [ "$(cat "$DEST/version.txt" 2>/dev/null)" = "$ALE_VERSION" ]; then
  say "ALE $ALE_VERSION sources present in $DEST"
  exit 0
fi
if ! "$TOOLS_VENV/bin/python" -c "import scikit_build_core, nanobind" 2>/dev/null; then
  say "creating $TOOLS_VENV with $TOOLS (to let pip read the sdist's metadata)"
  python3 -m venv "$TOOLS_VENV"
  "$TOOLS_VENV/bin/pip" install --quiet --disable-pip-version-check $TOOLS
fi
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
say "downloading the ale-py $ALE_VERSION sdist with pip ..."
# --no-binary ale-py (not :all:, which would build cmake, jax, ... from source) and
# --no-build-isolation (use the pinned backend above instead of fetching build deps).
PATH="$TOOLS_VENV/bin:$PATH" "$TOOLS_VENV/bin/pip" download --quiet --disable-pip-version-check \
  --no-deps --no-build-isolation --no-binary ale-py "ale-py==$ALE_VERSION" -d "$TMP/dl"
[ -f "$TMP/dl/$SDIST" ] || { say "pip did not produce $SDIST"; ls -l "$TMP/dl" >&2; exit 1; }
got="$(sha256sum "$TMP/dl/$SDIST" | cut -d' ' -f1)"
if [ "$got" != "$SDIST_SHA256" ]; then
  say "$SDIST: sha256 mismatch: expected $SDIST_SHA256, got $got"
  exit 1
fi
say "verified sha256 $got of $SDIST"
tar xzf "$TMP/dl/$SDIST" -C "$TMP"
SRC="$TMP/ale_py-$ALE_VERSION"
rm -rf "$SRC/src/ale/python/roms" "$SRC/src/ale/wasm"
rm -rf "$DEST.tmp"
mkdir -p "$DEST.tmp/src"
cp -r "$SRC/CMakeLists.txt" "$SRC/cmake" "$SRC/version.txt" "$SRC/LICENSE.md" "$DEST.tmp/"
cp -r "$SRC/src/ale" "$DEST.tmp/src/"
rm -rf "$DEST"
mv "$DEST.tmp" "$DEST"
say "ALE $ALE_VERSION sources in $DEST ($(find "$DEST" -type f | wc -l) files)"
