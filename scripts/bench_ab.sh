#!/usr/bin/env bash
# Ours against ours: two `lot` binaries' bench workers on the same specs, alternating, REPEATS
# times each (default 3), printing per-teacher-step seconds. For "did this change slow the step
# down?" (e.g. a refactor), where `lot bench`'s reference side would only add noise.
#
#   cp target/release/lot /tmp/lot-before   # before the change; rebuild; then:
#   bash scripts/bench_ab.sh /tmp/lot-before target/release/lot
set -euo pipefail
cd "$(dirname "$0")/.."
A="${1:?usage: bench_ab.sh BIN_BEFORE BIN_AFTER [REPEATS]}"
B="${2:?usage: bench_ab.sh BIN_BEFORE BIN_AFTER [REPEATS]}"
REPEATS="${3:-3}"
for bin in "$A" "$B"; do [ -x "$bin" ] || { echo "error: $bin is not an executable" >&2; exit 2; }; done
# shellcheck disable=SC1091
source scripts/env.sh
export LOT_NO_PROGRESS=1
# The specs of `lot bench vision` (fp32; bf16 + channels-last) and `lot bench lstm`.
specs=$(python3 - <<'PY'
import json
v = dict(task="vision", steps=12, warmup=2, device="cpu", threads=0, seed=0, batch_size=256, student_steps=2,
         alpha=0.5, temperature=1.5, lr=0.1, precision="fp32", channels_last=False, depth="20_20", samples=50000,
         classes=100, workers=4, emsize=0, nhid=0, nlayers=0, dropout=0.0, vocab=0, tokens=0, bptt=0, momentum=0.9,
         clip=0.0, num_envs=0, num_steps=0, obs_cache=0, env="CartPole-v1", students=1, n_layer=0, d_model=0,
         n_head=0, d_head=0, d_inner=0, mem_len=0)
lstm = dict(v, task="lstm", steps=30, batch_size=20, student_steps=5, alpha=1.0, lr=20.0, depth="", samples=0,
            classes=0, workers=0, emsize=200, nhid=200, nlayers=2, dropout=0.2, vocab=10000, tokens=929589, bptt=35,
            momentum=0.3, clip=0.2)
for name, s in [("vision_fp32", v), ("vision_bf16_cl", dict(v, precision="bf16", channels_last=True)), ("lstm_fp32", lstm)]:
    print(name, json.dumps(s, separators=(",", ":")))
PY
)
echo "cpu: $(lscpu | sed -n 's/^Model name: *//p')  date: $(date -u +%FT%TZ)"
echo "spec before/after repeat per_step_s"
while read -r name spec; do
  for r in $(seq "$REPEATS"); do
    for side in before after; do
      bin="$A"; [ "$side" = after ] && bin="$B"
      "$bin" bench-worker --spec "$spec" 2>/dev/null | tail -1 \
        | python3 -c "import json,sys; print('$name $side $r', json.loads(sys.stdin.read())['per_step_s'])"
    done
  done
done <<< "$specs"
