"""Env steps per second of the minatar Python package's games: random actions, one process, the
observation (env.state()) taken every step as a gym step returns it. Prints "<game> <steps/s>",
the best of REPEATS timings of STEPS steps each (the least disturbed by the rest of the machine).

    python scripts/bench_minatar.py [STEPS] [REPEATS]   (a python with minatar: scripts/minatar_venv.sh)
"""
import sys
import time

import numpy as np
from minatar import Environment

GAMES = ["asterix", "breakout", "freeway", "seaquest", "space_invaders"]


def main():
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    for game in GAMES:
        env = Environment(game)
        env.seed(0)
        env.reset()
        actions = env.minimal_action_set()
        acts = np.random.RandomState(1).randint(len(actions), size=steps)
        best = 0.0
        for _ in range(repeats):
            t = time.perf_counter()
            for a in acts:
                _, terminal = env.act(actions[a])
                if terminal:
                    env.reset()
                env.state()
            best = max(best, steps / (time.perf_counter() - t))
        print(game, round(best))


if __name__ == "__main__":
    main()
