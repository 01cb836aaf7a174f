#!/usr/bin/env bash
# Build, here, what scripts/gpu-check.sh runs on a GPU machine that has torch 2.11.0+cu130 for its
# python3 but no Rust: the release `lot` binary (libtorch_cuda.so linked for real, see
# crates/lot-cli/build.rs) and the CUDA test executable, built against the same torch 2.11.0 wheel
# (PyPI's torch==2.11.0 is the +cu130 build), with the NCCL backend (feature `cuda`) and the MinAtar
# games (feature `minatar`, GPL-3.0), copied with a run.sh into the git-ignored gpu-bundle/.
# Carry gpu-bundle/ (and benches/reference/, which is tracked) to the GPU machine.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
torch_lib="$(python -c 'import os,torch;print(os.path.join(os.path.dirname(torch.__file__),"lib"))')"
if [ ! -f "$torch_lib/libtorch_cuda.so" ]; then
  echo "gpu-bundle: $torch_lib has no libtorch_cuda.so (a CPU-only torch?); install torch==2.11.0 from PyPI" >&2
  exit 1
fi
# NCCL for data parallelism (the `cuda` feature) compiles against CUDA toolkit headers the wheel lacks.
export LOT_CUDA_HEADERS="$(bash scripts/cuda-headers.sh)"
cargo build --release -p lot-cli --features cuda,minatar
# The test executables cargo builds (cargo test --no-run names them); keep the CUDA tests and the
# vision unit tests (the lot library's), which the check runs.
# Same features as the binary: building lot-cli's tests rebuilds target/release/lot with them.
cargo test --release -p lot-cli --features cuda,minatar --test cuda --no-run --message-format=json 2>/dev/null >/tmp/lot-gpu-bundle-tests.json
cargo test --release -p lot --lib --features cuda --no-run --message-format=json 2>/dev/null >>/tmp/lot-gpu-bundle-tests.json
rm -rf gpu-bundle
mkdir -p gpu-bundle/tests
cp target/release/lot gpu-bundle/lot
python - /tmp/lot-gpu-bundle-tests.json gpu-bundle/tests <<'PY'
import json, shutil, sys, os
src, dst = sys.argv[1], sys.argv[2]
for line in open(src):
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"].get("test"):
        name = {"cuda": "cuda", "lot": "lot_lib"}.get(m["target"]["name"], m["target"]["name"])
        shutil.copy(m["executable"], os.path.join(dst, name))
        print("gpu-bundle: test executable", name, "<-", m["executable"])
PY
strip gpu-bundle/lot gpu-bundle/tests/* 2>/dev/null || true
if ! readelf -d gpu-bundle/lot | grep -q 'libtorch_cuda.so'; then
  echo "gpu-bundle: gpu-bundle/lot does not link libtorch_cuda.so (build.rs did not see it)" >&2
  exit 1
fi
# The features must have survived the test builds (a featureless rebuild once shipped without NCCL).
grep -q -a ProcessGroupNCCL gpu-bundle/lot || { echo "gpu-bundle: gpu-bundle/lot has no NCCL (built without --features cuda,minatar?)" >&2; exit 1; }
cat > gpu-bundle/run.sh <<'SH'
#!/usr/bin/env bash
# ./run.sh lot ARGS...   or   ./run.sh TEST_EXECUTABLE ARGS...  (cuda, lot_lib)
# Runs a bundled binary against this machine's python3 torch (2.11.0+cu130): LD_LIBRARY_PATH = its torch/lib.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
py="${PYTHON:-python3}"
torch_lib="$("$py" -c 'import os,torch;print(os.path.join(os.path.dirname(torch.__file__),"lib"))')"
export LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export LOT_BIN="$here/lot" LOT_NO_PROGRESS=1
what="$1"; shift
if [ "$what" = lot ]; then exec "$here/lot" "$@"; else exec "$here/tests/$what" "$@"; fi
SH
chmod +x gpu-bundle/run.sh
du -sh gpu-bundle gpu-bundle/* gpu-bundle/tests/* >&2
echo "gpu-bundle: ready; on the GPU machine: bash scripts/gpu-check.sh" >&2
