#!/usr/bin/env python3
"""The longest gap in wall_s between consecutive rows of each run's metrics.jsonl: a pause inside a
run's wall time (e.g. a process stopped while something else ran) shows as one long gap where rows
are logged every update (RL). Usage: python3 scripts/wall_gaps.py results/minatar-*"""
import glob
import json
import os
import sys

for d in sys.argv[1:]:
    for f in sorted(glob.glob(os.path.join(d, "*", "metrics.jsonl"))):
        ts = sorted(json.loads(line)["wall_s"] for line in open(f))
        gap = max((b - a for a, b in zip(ts, ts[1:])), default=0.0)
        print(f"{os.path.dirname(f)}  longest gap {gap:.0f} s  wall {ts[-1]:.0f} s")
