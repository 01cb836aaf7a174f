"""Run one of the reference programs (benches/reference/*.py) under torch.profiler and print the
libtorch ops that take the time, by self CPU time. `lot` calls the same libtorch ops for the same
model, so this is where a teacher step's time goes on both sides, op by op (what differs is
listed in BENCHMARKS.md: the written-out loss gradients, no teacher graph on student steps).

    python benches/profile/torch_ops.py benches/reference/txl_lot.py --steps 1 --warmup 1
    python benches/profile/torch_ops.py benches/reference/lstm_lot.py --nhid 650 --steps 1 --warmup 1

Everything after the program goes to it. The whole run is profiled (warm-up and model build
included: keep --steps small and read the ops, not the totals).
"""
import runpy
import sys

import torch
from torch.profiler import ProfilerActivity, profile


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: torch_ops.py PROGRAM.py [ARGS...]")
    program = sys.argv[1]
    sys.argv = [program] + sys.argv[2:]
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        try:
            runpy.run_path(program, run_name="__main__")
        except SystemExit:
            pass
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25), file=sys.stderr)


if __name__ == "__main__":
    main()
