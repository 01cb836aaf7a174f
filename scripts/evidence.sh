#!/usr/bin/env bash
# The evidence suite: does LoT's teacher generalize better than the same teacher trained without
# feedback (teacher_only) and than a teacher given LoT's whole optimizer-step budget (compute_matched)?
#
#   bash scripts/evidence.sh                 # every part, then the report
#   bash scripts/evidence.sh fm5k acrobot    # some parts (see PARTS below), then the report
#   bash scripts/evidence.sh report          # only regenerate results/*/compare.*, RESULTS.md and
#                                            # results/summary.png (with its rows, summary_rows.json)
#   bash scripts/evidence.sh list            # parts, settings, and which runs are done
#   bash scripts/evidence.sh collect         # copy runs that finished in the work folder into results/
#                                            # (while a suite runs: it copies only when its sweep ends)
#
# Each run is `lot sweep CONFIG --seeds S --modes M` into $LOT_EVIDENCE_WORK/<setting>/ (resumed if
# it was stopped, reused if it finished); its small files (config.toml, summary.json,
# metrics.jsonl, curves.png; never weights or checkpoints) are then copied to
# results/<setting>/<mode>-s<seed>/, which is committed (a metrics.jsonl over 1 MB thinned by
# scripts/thin_metrics.py, which says so in thinned.txt). A run whose results/…/summary.json exists
# is skipped, so the suite continues across machines and sessions from what is committed.
# SEEDS=0,1,2,3,4 adds seeds; JOBS=2 runs two at a time (one libtorch thread each); THREADS=1 sets
# the libtorch threads of every run (e.g. JOBS=1 THREADS=1 beside another single-thread job).
set -euo pipefail
cd "$(dirname "$0")/.."
SEEDS="${SEEDS:-}"
JOBS="${JOBS:-1}"
WORK="${LOT_EVIDENCE_WORK:-runs/evidence}"
RESULTS=results
# LOT_BIN: the lot binary to run (e.g. a copy, so that rebuilding target/ during a long suite
# does not change the binary mid-setting).
LOT="${LOT_BIN:-./target/release/lot}"

# Settings: name|config|modes|default seeds|--set overrides (space-separated).
# CPU time per run on a 2-core AMD EPYC (AVX-512-BF16), measured: see RESULTS.md.
# FM2K is the main job's config (15 epochs since 2026-12-04); fm2k and its ablation ran it for 30.
FM2K=configs/quick_fashion_mnist_lot.toml
FM5K=configs/evidence/fm5k_resnet8.toml
setting() {
  case "$1" in
    fm2k-e15)     echo "fm2k-e15|$FM2K|lot,teacher_only,compute_matched|0,1,2|" ;;
    fm2k)         echo "fm2k|$FM2K|lot,teacher_only,compute_matched,no_student|0,1,2|train.epochs=30" ;;
    fm5k)         echo "fm5k|$FM5K|lot,teacher_only,compute_matched,no_student|0,1,2,3,4|" ;;
    fm5k-e20)     echo "fm5k-e20|$FM5K|lot,teacher_only,compute_matched|0,1,2|train.epochs=20" ;;
    fm2k-alpha0.1) echo "fm2k-alpha0.1|$FM2K|lot|0,1,2|lot.alpha=0.1 train.epochs=30" ;;
    fm2k-alpha1)  echo "fm2k-alpha1|$FM2K|lot|0,1,2|lot.alpha=1.0 train.epochs=30" ;;
    fm2k-n1)      echo "fm2k-n1|$FM2K|lot|0,1,2|lot.student_steps=1 train.epochs=30" ;;
    fm2k-n5)      echo "fm2k-n5|$FM2K|lot|0,1,2|lot.student_steps=5 train.epochs=30" ;;
    fm20k)        echo "fm20k|configs/evidence/fm20k_resnet20.toml|lot,teacher_only,compute_matched|0,1,2|" ;;
    fm10k)        echo "fm10k|configs/evidence/fm10k_resnet20.toml|lot,teacher_only,compute_matched|0,1,2,3,4|" ;;
    acrobot)      echo "acrobot|configs/evidence/acrobot.toml|lot,teacher_only,compute_matched,no_student|0,1,2,3,4|" ;;
    ptb100k-lstm) echo "ptb100k-lstm|configs/evidence/ptb100k_lstm.toml|lot,teacher_only,compute_matched|0,1,2|" ;;
    ptb100k-txl)  echo "ptb100k-txl|configs/evidence/ptb100k_txl.toml|lot,teacher_only,compute_matched|0,1,2|" ;;
    ptb50k-lstm)  echo "ptb50k-lstm|configs/evidence/ptb50k_lstm.toml|lot,teacher_only,compute_matched|0,1,2|" ;;
    ptb100k-txl-converged) echo "ptb100k-txl-converged|configs/evidence/ptb100k_txl_converged.toml|lot,teacher_only,compute_matched|0,1,2|" ;;
    # MinAtar: the teacher-only baseline runs as no_student. With α = 0 the teacher never sees a
    # student, so its weights are the same bit for bit (results/acrobot: no_student − teacher_only
    # = 0.00 on every seed), and no_student skips the students' training: about a quarter of the cost.
    minatar-breakout) echo "minatar-breakout|configs/evidence/minatar_breakout.toml|lot,no_student,compute_matched|0,1,2,3,4|" ;;
    minatar-space-invaders) echo "minatar-space-invaders|configs/evidence/minatar_space_invaders.toml|lot,no_student,compute_matched|0,1,2,3,4|" ;;
    minatar-asterix) echo "minatar-asterix|configs/evidence/minatar_asterix.toml|lot,no_student,compute_matched|0,1,2,3,4|" ;;
    *) return 1 ;;
  esac
}
# Parts: what `bash scripts/evidence.sh PART` runs, cheapest first.
part_settings() {
  case "$1" in
    demo) echo fm2k-e15 ;;
    fm2k) echo fm2k ;;
    fm5k) echo fm5k ;;
    fm5k-e20) echo fm5k-e20 ;;
    acrobot) echo acrobot ;;
    ablation) echo fm2k fm2k-alpha0.1 fm2k-alpha1 fm2k-n1 fm2k-n5 ;;
    fm20k) echo fm20k ;;
    fm10k) echo fm10k ;;
    ptb-lstm) echo ptb100k-lstm ;;
    ptb-txl) echo ptb100k-txl ;;
    ptb-lstm-converged) echo ptb50k-lstm ;;
    ptb-txl-converged) echo ptb100k-txl-converged ;;
    minatar-breakout) echo minatar-breakout ;;
    minatar-space-invaders) echo minatar-space-invaders ;;
    minatar-asterix) echo minatar-asterix ;;
    # Breakout (flat at 10M), then Space Invaders and Asterix at the same fixed 10M (not flat within
    # the budget: results/minatar-probes).
    minatar) echo minatar-breakout minatar-space-invaders minatar-asterix ;;
    *) return 1 ;;
  esac
}
PARTS="demo fm2k fm5k fm5k-e20 acrobot ablation ptb-lstm ptb-txl fm20k ptb-lstm-converged ptb-txl-converged fm10k minatar"

# Set up and build, unless LOT_EVIDENCE_NO_BUILD is set and the binary exists (e.g. while a suite runs).
# FEATURES: cargo features of the build (main sets `minatar` when a MinAtar part is asked for; the
# games are GPL-3.0, so a binary built with them is too: the README's license note).
FEATURES=""
ensure_built() {
  if [ -n "${LOT_BIN:-}" ]; then
    [ -x "$LOT" ] || { echo "error: LOT_BIN=$LOT is not an executable" >&2; exit 2; }
    # shellcheck disable=SC1091
    source scripts/env.sh
  elif [ -z "${LOT_EVIDENCE_NO_BUILD:-}" ] || [ ! -x "$LOT" ]; then
    bash scripts/setup.sh
    # shellcheck disable=SC1091
    source scripts/env.sh
    cargo build --release --quiet -p lot-cli ${FEATURES:+--features "$FEATURES"}
  else
    # shellcheck disable=SC1091
    source scripts/env.sh
  fi
}

# Copy a finished run's small files from the work folder to results/ (nothing if it has not finished).
copy_run() {
  local name=$1 run=$2
  local src="$WORK/$name/$run" dst="$RESULTS/$name/$run"
  [ -f "$src/summary.json" ] || return 0
  mkdir -p "$dst"
  cp "$src/config.toml" "$src/summary.json" "$dst/"
  # Long RL runs log ~10 MB of per-update and per-episode rows: commit a thinned copy.
  if [ "$(stat -c %s "$src/metrics.jsonl")" -gt 1000000 ]; then
    python3 scripts/thin_metrics.py "$src/metrics.jsonl" "$dst"
  else
    cp "$src/metrics.jsonl" "$dst/"
  fi
  [ -f "$src/curves.png" ] && cp "$src/curves.png" "$dst/"
  return 0
}

# Every finished run in the work folder ($WORK/<setting>/<run>/) that results/ does not have yet.
collect() {
  local d name run n=0
  for d in "$WORK"/*/*/; do
    name=$(basename "$(dirname "$d")") run=$(basename "$d")
    [ -f "$d/summary.json" ] || continue
    [ -f "$RESULTS/$name/$run/summary.json" ] && continue
    copy_run "$name" "$run"
    echo "evidence: collected $RESULTS/$name/$run" >&2
    n=$((n + 1))
  done
  echo "evidence: $n finished run(s) collected" >&2
}

# Run every missing (seed, mode) of a setting, copying each finished run's small files.
run_setting() {
  local name cfg modes seeds sets
  IFS='|' read -r name cfg modes seeds sets <<<"$(setting "$1")"
  seeds="${SEEDS:-$seeds}"
  local set_args=() s
  for s in $sets; do set_args+=(--set "$s"); done
  local threads=()
  [ "$JOBS" -gt 1 ] && threads=(--set run.threads=1)
  [ -n "${THREADS:-}" ] && threads=(--set "run.threads=$THREADS")
  local todo=() seed mode
  for seed in ${seeds//,/ }; do
    for mode in ${modes//,/ }; do
      [ -f "$RESULTS/$name/$mode-s$seed/summary.json" ] || todo+=("$seed:$mode")
    done
  done
  if [ ${#todo[@]} -eq 0 ]; then
    echo "evidence: $name: all runs in $RESULTS/$name" >&2
    return
  fi
  echo "evidence: $name: ${#todo[@]} runs to do (${todo[*]})" >&2
  local t0=$SECONDS
  # One sweep per set of missing seeds, over every mode missing exactly those (seed-major, JOBS at
  # a time): a fresh setting is one sweep, so no core idles between modes.
  local -A by_seeds=()
  for mode in ${modes//,/ }; do
    local want=()
    for seed in ${seeds//,/ }; do
      [ -f "$RESULTS/$name/$mode-s$seed/summary.json" ] || want+=("$seed")
    done
    [ ${#want[@]} -eq 0 ] && continue
    local ss
    ss=$(IFS=,; echo "${want[*]}")
    by_seeds[$ss]="${by_seeds[$ss]:+${by_seeds[$ss]},}$mode"
  done
  for ss in "${!by_seeds[@]}"; do
    "$LOT" sweep "$cfg" --seeds "$ss" --modes "${by_seeds[$ss]}" --jobs "$JOBS" --out "$WORK/$name" \
      "${set_args[@]}" "${threads[@]}" >/dev/null || echo "evidence: $name ${by_seeds[$ss]}: some runs failed (logs in $WORK/$name/logs)" >&2
    for seed in ${ss//,/ }; do
      for mode in ${by_seeds[$ss]//,/ }; do
        copy_run "$name" "$mode-s$seed"
      done
    done
  done
  echo "evidence: $name: done in $((SECONDS - t0)) s" >&2
}

# results/<setting>/compare.{md,json,png} for every setting with runs, then RESULTS.md,
# results/summary_rows.json and the forest plot results/summary.png.
report() {
  local dir name baselines b
  for dir in "$RESULTS"/*/; do
    name=$(basename "$dir")
    case "$name" in ablation|fm2k-alpha*|fm2k-n*|*-probes) continue ;; esac
    ls "$dir"/*/summary.json >/dev/null 2>&1 || continue
    baselines=()
    for b in teacher_only compute_matched; do
      [ "$(ls -d "$dir"/$b-s*/ 2>/dev/null | wc -l)" -ge 2 ] && baselines+=("$b")
    done
    # No teacher_only runs (the MinAtar settings): no_student is the teacher-only baseline.
    if [ "$(ls -d "$dir"/teacher_only-s*/ 2>/dev/null | wc -l)" -lt 2 ] \
        && [ "$(ls -d "$dir"/no_student-s*/ 2>/dev/null | wc -l)" -ge 2 ]; then
      baselines=(no_student "${baselines[@]}")
    fi
    local bl=()
    [ ${#baselines[@]} -gt 0 ] && bl=(--baseline "$(IFS=,; echo "${baselines[*]}")")
    "$LOT" compare "$RESULTS/$name" "${bl[@]}" --out "$RESULTS/$name" >/dev/null
  done
  # The ablation: every fm2k variant against the fm2k teacher-only runs.
  local abl=()
  for name in fm2k fm2k-alpha0.1 fm2k-alpha1 fm2k-n1 fm2k-n5; do
    ls "$RESULTS/$name"/*/summary.json >/dev/null 2>&1 && abl+=("$RESULTS/$name")
  done
  if [ ${#abl[@]} -gt 1 ]; then
    "$LOT" compare "${abl[@]}" --baseline teacher_only --out "$RESULTS/ablation" >/dev/null
  fi
  python3 scripts/results_md.py
  "$LOT" plot-evidence "$RESULTS/summary_rows.json" --out "$RESULTS/summary.png" >/dev/null
  echo "evidence: wrote RESULTS.md, $RESULTS/summary.png, $RESULTS/summary_rows.json and $RESULTS/*/compare.*" >&2
}

list() {
  local p s name cfg modes seeds sets seed mode done_n total
  for p in $PARTS; do
    for s in $(part_settings "$p"); do
      IFS='|' read -r name cfg modes seeds sets <<<"$(setting "$s")"
      seeds="${SEEDS:-$seeds}"
      done_n=0; total=0
      for seed in ${seeds//,/ }; do
        for mode in ${modes//,/ }; do
          total=$((total + 1))
          [ -f "$RESULTS/$name/$mode-s$seed/summary.json" ] && done_n=$((done_n + 1))
        done
      done
      printf '%-10s %-14s %2d/%-2d runs  %s %s\n' "$p" "$name" "$done_n" "$total" "$cfg" "$sets"
    done
  done
}

# The whole command is one function, called on the last line with `exit`: bash reads a script as it
# runs, so this keeps a running suite safe from edits to this file.
main() {
  local args=("$@") p t0 s
  [ ${#args[@]} -eq 0 ] && args=($PARTS)
  case "${args[0]}" in
    list) list; return 0 ;;
    collect) collect; return 0 ;;
    report) ensure_built; report; return 0 ;;
  esac
  for p in "${args[@]}"; do
    part_settings "$p" >/dev/null || { echo "error: unknown part '$p' (parts: $PARTS, or report, list, collect)" >&2; return 2; }
    case " $(part_settings "$p") " in *" minatar-"*) FEATURES=minatar ;; esac
  done
  ensure_built
  for p in "${args[@]}"; do
    t0=$SECONDS
    for s in $(part_settings "$p"); do run_setting "$s"; done
    echo "evidence: part $p: $((SECONDS - t0)) s wall" >&2
  done
  report
}

main "$@"; exit $?
