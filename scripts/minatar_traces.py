"""Write MinAtar reference traces from the `minatar` Python package, for crates/minatar/tests/traces.rs.

Installs nothing: run it with a python that has minatar 1.0.15 and numpy (scripts/minatar_venv.sh).

    python scripts/minatar_traces.py OUT_DIR [--steps 10000] [--seeds 0,1,2] [--games breakout,...]
                                             [--policy random|guided]

For each game and seed it plays `steps` random actions the way `gym.make("MinAtar/<Game>-v1")`
does after `reset(seed=seed)` (the package's Environment: sticky actions 0.1, difficulty ramping,
the minimal action set), resetting on terminal without reseeding. Actions come from a separate
numpy RandomState(seed + ACTION_SEED_OFFSET): uniform (`random`), or (`guided`) a crude per-game
heuristic taken 90% of the time, which lives longer than random play and so reaches what random
play rarely does (Breakout's brick refill, cleared Space Invaders waves, Seaquest surfacing with
divers, difficulty ramps). Either way the actions are recorded, and replaying needs no policy.
File OUT_DIR/<game>_<seed>_<policy>.trace, little-endian:
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


def guided(game, g, rng, n):
    """A heuristic action index (into the minimal set) from the game's internals, or random."""
    if rng.rand() < 0.1:
        return int(rng.randint(n))
    if game == "breakout":  # [n, l, r]: go where the ball is heading
        x = min(9, max(0, g.ball_x + (1 if g.ball_dir in (1, 2) else -1)))
        return 2 if g.pos < x else 1 if g.pos > x else 0
    if game == "space_invaders":  # [n, l, r, f]: dodge, fire under an alien, else find one
        if g.e_bullet_map[5:, g.pos].any():
            return 1 if g.pos > 0 else 2
        if g.alien_map[:, g.pos].any():
            return 3 if g.shot_timer == 0 else 0
        col = g._nearest_alien(g.pos)[1]
        return 2 if g.pos < col else 1
    if game == "seaquest":  # [n, l, u, r, d, f]: dive, shoot, surface with divers before oxygen runs out
        if g.diver_count > 0 and (g.oxygen < 60 or g.diver_count >= 6):
            return 2
        if g.sub_y == 0:
            return 4
        if g.shot_timer == 0 and rng.rand() < 0.5:
            return 5
        return int([1, 3, 4, 2][rng.randint(4)])
    if game == "freeway":  # [n, u, d]: cross
        return 1
    # asterix [n, l, u, r, d]: step out of a lane with an enemy coming
    lane = [e for e in g.entities if e is not None and e[1] == g.player_y and not e[3]]
    if lane:
        return 2 if g.player_y > 1 else 4
    return int(rng.randint(n))


def write_trace(path, game, seed, steps, policy):
    env = Environment(game)  # the package's defaults: sticky_action_prob=0.1, difficulty_ramping=True
    env.seed(seed)
    env.reset()
    actions = env.minimal_action_set()
    act_rng = np.random.RandomState(seed + ACTION_SEED_OFFSET)
    channels = env.state_shape()[2]
    out = bytearray(b"MATRACE1" + struct.pack("<IIII", channels, steps, seed, len(actions)))
    out += packed(env)
    episodes, longest, length, max_ramp = 0, 0, 0, 0
    for _ in range(steps):
        if policy == "guided":
            a = guided(game, env.env, act_rng, len(actions))
        else:
            a = int(act_rng.randint(len(actions)))
        r, terminal = env.act(actions[a])
        r = int(r)
        if not 0 <= r < 256:
            sys.exit(f"{game} seed {seed}: reward {r} does not fit the trace format")
        out += bytes([a, r, int(bool(terminal))]) + packed(env)
        length += 1
        max_ramp = max(max_ramp, env.env.difficulty_ramp() or 0)
        if terminal:
            episodes, longest, length = episodes + 1, max(longest, length), 0
            env.reset()
            out += packed(env)
    with open(path, "wb") as f:
        f.write(out)
    return episodes, max(longest, length), max_ramp


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--steps", type=int, default=10_000)
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--games", default=",".join(GAMES))
    p.add_argument("--policy", choices=["random", "guided"], default="random")
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for game in args.games.split(","):
        for seed in map(int, args.seeds.split(",")):
            path = os.path.join(args.out, f"{game}_{seed}_{args.policy}.trace")
            n, longest, ramp = write_trace(path, game, seed, args.steps, args.policy)
            print(f"{game} seed {seed} {args.policy}: {args.steps} steps, {n} episodes ended, "
                  f"longest {longest} steps, highest difficulty ramp {ramp}")


if __name__ == "__main__":
    main()
