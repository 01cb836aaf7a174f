#!/usr/bin/env bash
# On a GPU machine with torch 2.11.0+cu130 for python3 and no Rust (build the bundle elsewhere
# first: bash scripts/gpu-bundle.sh, then carry gpu-bundle/): check that libtorch sees CUDA, run
# the CUDA tests and the vision unit tests, then the vision bench on cuda (ours fp32 and bf16 +
# channels-last, each against the PyTorch reference program), printing images/s and GPU memory,
# and a 2-rank data-parallel training run on the GPU (Gloo with CUDA tensors; with synchronized
# BatchNorm too), and `precision = "auto"` on CUDA. The CUDA tests include run.devices (a teacher on
# the GPU, its student on the CPU) and TorchScript models (4 LoT steps of the scripted PyTorch
# ResNet-8 against ours); step 3d trains scripted models with `lot train` on the GPU.
# One prepared command of a few minutes. Reports go to $OUT (default gpu-check-out/).
set -euo pipefail
cd "$(dirname "$0")/.."
B=gpu-bundle
PY="${PYTHON:-python3}"
OUTDIR="${OUT:-gpu-check-out}"
STEPS="${GPU_CHECK_STEPS:-20}"
mkdir -p "$OUTDIR"
[ -x "$B/lot" ] || { echo "gpu-check: $B/lot missing: run scripts/gpu-bundle.sh where Rust is, and carry $B/" >&2; exit 1; }
"$PY" -c 'import torch; print("python", __import__("sys").version.split()[0], "torch", torch.__version__, "cuda available", torch.cuda.is_available())'
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true

echo "== 1. CUDA visible to lot"
"$B/run.sh" lot bench env --require-cuda

echo "== 2. CUDA tests and vision unit tests"
LOT_REQUIRE_CUDA=1 "$B/run.sh" cuda --test-threads 1
"$B/run.sh" lot_lib vision:: --test-threads 2

echo "== 3. vision bench on cuda ($STEPS teacher steps, 2 repeats each)"
# GPU memory per process, sampled every 200 ms while the benches run.
nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv,noheader,nounits -lms 200 >"$OUTDIR/gpu_mem.csv" 2>/dev/null &
SMI=$!
trap 'kill $SMI 2>/dev/null || true' EXIT
run_bench() {
  local name="$1"; shift
  "$B/run.sh" lot bench vision --device cuda --steps "$STEPS" --warmup 5 --repeats 2 --python "$PY" \
    --reference-dir benches/reference --out "$OUTDIR/$name.json" "$@"
}
run_bench gpu_vision_fp32
run_bench gpu_vision_bf16_cl --precision bf16 --channels-last
kill $SMI 2>/dev/null || true

echo "== 3b. data parallel on CUDA (never run before): 2 ranks over Gloo on one GPU (per-rank and synchronized BN), 1 rank over NCCL"
# A tiny Fashion-MNIST-layout data set (12×12 images, a class-dependent bright patch), then
# `lot launch` with 2 ranks sharing cuda:0 over Gloo, and one rank over NCCL (NCCL wants a GPU
# per rank; one GPU here).
DP="$OUTDIR/dp"
rm -rf "$DP"
"$PY" - "$DP/data" <<'PY'
import os, random, struct, sys
d = sys.argv[1]; os.makedirs(d, exist_ok=True); rnd = random.Random(7)
for prefix, n in [("train", 640), ("t10k", 100)]:
    img, lab = bytearray(struct.pack(">IIII", 0x803, n, 12, 12)), bytearray(struct.pack(">II", 0x801, n))
    for _ in range(n):
        c = rnd.randrange(10); py, px = 1 + (c // 5) * 5, 1 + (c % 5) * 2
        img += bytes((195 if py <= y < py + 3 and px <= x < px + 3 else 0) + rnd.randrange(60) for y in range(12) for x in range(12))
        lab.append(c)
    open(f"{d}/{prefix}-images-idx3-ubyte", "wb").write(img); open(f"{d}/{prefix}-labels-idx1-ubyte", "wb").write(lab)
PY
printf 'task = "vision"\n[run]\nname = "dp"\ndevice = "cuda"\ndist_timeout_s = 120\n[data]\ndataset = "fashion-mnist"\ndir = "%s"\naugment = false\n[model]\ndepth = "8_8"\n[train]\nepochs = 2\nbatch_size = 16\neval_batch_size = 100\nlr = 0.05\nepoch_style = "full_pass"\n' "$(cd "$DP/data" && pwd)" >"$DP/dp.toml"
"$B/run.sh" lot launch --nproc-per-node 2 -- train "$DP/dp.toml" --set run.dist_backend=gloo --out "$DP/gloo" \
  && cat "$DP/gloo/dist.json" || echo "gpu-check: data parallel over Gloo on CUDA FAILED (see above)"
"$B/run.sh" lot launch --nproc-per-node 2 -- train "$DP/dp.toml" --set run.dist_backend=gloo --set run.sync_bn=true --out "$DP/gloo-syncbn" \
  && cat "$DP/gloo-syncbn/dist.json" || echo "gpu-check: synchronized BatchNorm over Gloo on CUDA FAILED (see above)"
"$B/run.sh" lot launch --nproc-per-node 1 -- train "$DP/dp.toml" --set run.dist_backend=nccl --out "$DP/nccl" \
  && cat "$DP/nccl/dist.json" || echo "gpu-check: data parallel over NCCL FAILED (see above)"

echo "== 3c. precision auto on CUDA (nvidia-smi's compute capability: bf16 from 8.0 on)"
"$B/run.sh" lot train "$DP/dp.toml" --set train.precision=auto --set train.channels_last=true --set train.epochs=1 \
  --out "$DP/auto" >"$DP/auto.log" 2>&1 || echo "gpu-check: precision auto run FAILED (see $DP/auto.log)"
grep -m1 'precision auto' "$DP/auto.log" || echo "gpu-check: precision auto printed no choice on CUDA"
grep -H '^precision' "$DP/auto/config.toml" || true

echo "== 3d. TorchScript models on CUDA (docs/torchscript.md): scripts/script_resnet.py, lot train, lot eval, torch.jit.load"
TS="$OUTDIR/torchscript"
rm -rf "$TS" && mkdir -p "$TS"
for m in teacher:1 student:2; do
  "$PY" scripts/script_resnet.py --depth 8 --classes 10 --in-channels 1 --input-size 12 --seed "${m#*:}" --out "$TS/${m%:*}.pt" >/dev/null
done
sed -e 's/^depth = "8_8"$/teacher = "teacher.pt"\nstudents = ["student.pt"]/' "$DP/dp.toml" >"$TS/ts.toml"
if "$B/run.sh" lot train "$TS/ts.toml" --out "$TS/run" >"$TS/train.log" 2>&1 && "$B/run.sh" lot eval "$TS/run"; then
  "$PY" -c 'import sys, torch; m = torch.jit.load(sys.argv[1] + "/teacher.pt", map_location="cuda"); print("torch.jit.load: teacher.pt logits", tuple(m(torch.zeros(2, 1, 12, 12, device="cuda")).shape))' "$TS/run" \
    || echo "gpu-check: torch.jit.load of the trained teacher.pt FAILED"
else
  echo "gpu-check: TorchScript training on CUDA FAILED (see $TS/train.log)"; tail -5 "$TS/train.log"
fi

echo "== 3e. PPO + LoT on MinAtar Breakout (issue 26): the same 48 updates on cuda and on the CPU (one thread)"
# The RL trainer on CUDA: rollout buffer, PPO and the students' imitation passes on the GPU, the
# games on the host. Prints env steps/s per device and the last training returns.
for dev in cuda cpu; do
  "$B/run.sh" lot train configs/evidence/minatar_breakout.toml --set run.device=$dev --set run.threads=1 \
    --set ppo.total_timesteps=98304 --set eval.episodes=10 --out "$OUTDIR/minatar-$dev" >"$OUTDIR/minatar-$dev.log" 2>&1 \
    || { echo "gpu-check: MinAtar PPO + LoT on $dev FAILED (see $OUTDIR/minatar-$dev.log)"; tail -5 "$OUTDIR/minatar-$dev.log"; }
done

echo "== 4. summary"
"$PY" - "$OUTDIR" <<'PY'
import json, os, statistics, sys, collections
d = sys.argv[1]
mem = collections.defaultdict(float)
try:
    for line in open(os.path.join(d, "gpu_mem.csv")):
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 3 and parts[2].isdigit():
            name = "lot" if parts[1].endswith("lot") else ("python" if "python" in parts[1] else parts[1])
            mem[name] = max(mem[name], float(parts[2]))
except FileNotFoundError:
    pass
for name in ["gpu_vision_fp32", "gpu_vision_bf16_cl"]:
    rep = json.load(open(os.path.join(d, name + ".json")))
    def med(side, key):
        v = [r["result"].get(key) for r in rep[side]["runs"] if r["result"].get(key) is not None]
        return statistics.median(v) if v else float("nan")
    print(f"{name}: lot {med('ours', 'images_per_s'):.0f} images/s, reference {med('reference', 'images_per_s'):.0f} images/s, "
          f"speed-up per teacher step {rep['speedup']['per_teacher_step']}, end-to-end {rep['speedup']['end_to_end']}; "
          f"reference torch.cuda.max_memory_allocated {med('reference', 'gpu_max_allocated_mb'):.0f} MiB")
for dev in ["cuda", "cpu"]:
    try:
        s = json.load(open(os.path.join(d, f"minatar-{dev}", "summary.json")))
        print(f"minatar breakout lot on {dev}: {s['epochs']} updates, {s['epochs'] * 2048 / s['wall_s']:.0f} env steps/s, wall {s['wall_s']:.1f} s, "
              f"teacher {json.dumps(s['models'].get('teacher', s['models']))[:300]}")
    except (FileNotFoundError, KeyError) as e:
        print(f"minatar breakout lot on {dev}: no summary ({e})")
print("peak GPU memory per process (nvidia-smi, MiB, CUDA context included):", dict(mem) or "not sampled")
PY
