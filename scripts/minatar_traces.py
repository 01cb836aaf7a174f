"""Write MinAtar reference traces from the `minatar` Python package, for crates/minatar/tests/traces.rs.

Installs nothing: run it with a python that has minatar 1.0.15 and numpy (scripts/minatar_venv.sh).

    python scripts/minatar_traces.py OUT_DIR [--steps 10000] [--seeds 0,1,2] [--games breakout,...]

For each game and seed it plays `steps` random actions the way `gym.make("MinAtar/<Game>-v1")`
does after `reset(seed=seed)` (the package's Environment: sticky actions 0.1, difficulty ramping,
the minimal action set), resetting on terminal without reseeding. Actions come from a separate
numpy RandomState(seed + ACTION_SEED_OFFSET). File OUT_DIR/<game>_<seed>.trace, little-endian:
    b"MATRACE1", u32 channels, u32 steps, u32 seed, u32 number of actions
    the first frame
    per step: u8 action (index into the minimal set), u8 reward, u8 terminal, the frame after it,
              and when terminal, the first frame of the next episode
A frame is np.packbits of the (C, 10, 10) boolean state (channels first).
"""
import argparse
import os
import struct
import sys

import numpy as np
from minatar import Environment

GAMES = ["asterix", "breakout", "freeway", "seaquest", "space_invaders"]
ACTION_SEED_OFFSET = 1_000_003


def packed(env):
    return np.packbits(env.state().transpose(2, 0, 1)).tobytes()


def write_trace(path, game, seed, steps):
    env = Environment(game)  # the package's defaults: sticky_action_prob=0.1, difficulty_ramping=True
    env.seed(seed)
    env.reset()
    actions = env.minimal_action_set()
    act_rng = np.random.RandomState(seed + ACTION_SEED_OFFSET)
    channels = env.state_shape()[2]
    out = bytearray(b"MATRACE1" + struct.pack("<IIII", channels, steps, seed, len(actions)))
    out += packed(env)
    episodes = 0
    for _ in range(steps):
        a = int(act_rng.randint(len(actions)))
        r, terminal = env.act(actions[a])
        r = int(r)
        if not 0 <= r < 256:
            sys.exit(f"{game} seed {seed}: reward {r} does not fit the trace format")
        out += bytes([a, r, int(bool(terminal))]) + packed(env)
        if terminal:
            episodes += 1
            env.reset()
            out += packed(env)
    with open(path, "wb") as f:
        f.write(out)
    return episodes


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--steps", type=int, default=10_000)
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--games", default=",".join(GAMES))
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for game in args.games.split(","):
        for seed in map(int, args.seeds.split(",")):
            n = write_trace(os.path.join(args.out, f"{game}_{seed}.trace"), game, seed, args.steps)
            print(f"{game} seed {seed}: {args.steps} steps, {n} episodes ended")


if __name__ == "__main__":
    main()
