#!/usr/bin/env python3
"""Copy a run's metrics.jsonl into a results folder, thinning its per-update and per-episode rows.

    python3 scripts/thin_metrics.py RUN/metrics.jsonl RESULTS/<setting>/<run>/ [--keep 1000]

RL runs log a `train` row per model and update and a `rollout` row per finished episode: a
10M-step MinAtar Breakout run writes ~12 MB, too much to commit. Of the `train` and `rollout`
rows, every n-th per model and split is kept, n chosen so that at most --keep remain; every other
row (eval, valid, test) is kept. What was done is written to `thinned.txt` beside the copy. The
run's summary.json (final and eval returns) is the trainer's, from every episode, and is copied
unchanged; the full file stays in the work folder. Standard library only.
"""
import argparse
import json
import math
import os


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src")
    ap.add_argument("dst_dir")
    ap.add_argument("--keep", type=int, default=1000)
    a = ap.parse_args()
    with open(a.src) as f:
        lines = f.readlines()
    rows = [json.loads(l) for l in lines]
    thinned = lambda r: r.get("split") in ("train", "rollout")
    count = {}
    for r in rows:
        if thinned(r):
            key = (r.get("model"), r["split"])
            count[key] = count.get(key, 0) + 1
    every = {k: max(1, math.ceil(n / a.keep)) for k, n in count.items()}
    seen = {k: 0 for k in count}
    kept = {k: 0 for k in count}
    os.makedirs(a.dst_dir, exist_ok=True)
    with open(os.path.join(a.dst_dir, "metrics.jsonl"), "w") as out:
        for line, r in zip(lines, rows):
            if thinned(r):
                key = (r.get("model"), r["split"])
                seen[key] += 1
                if (seen[key] - 1) % every[key]:
                    continue
                kept[key] += 1
            out.write(line)
    with open(os.path.join(a.dst_dir, "thinned.txt"), "w") as f:
        f.write("metrics.jsonl: of the `train` and `rollout` rows every n-th per model and split is kept, every other row\n"
                "(scripts/thin_metrics.py; summary.json is the trainer's, from every update and episode):\n")
        for (m, split) in sorted(count):
            f.write(f"{m} {split}: every {every[(m, split)]} of {count[(m, split)]} rows, {kept[(m, split)]} kept\n")


if __name__ == "__main__":
    main()
