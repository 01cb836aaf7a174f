#!/usr/bin/env python3
"""Reference traces of the Atari training env from the Python stack, for the ignored Rust test
`parity_with_python_reference` in atari.rs (a manual check, not part of the normal test run).

Python side: ale-py 0.12.1 (gymnasium, `<Game>NoFrameskip-v4`), gymnasium's
RecordEpisodeStatistics, Stable-Baselines3 2.4.0's atari_wrappers (NoopReset(30), MaxAndSkip(4),
EpisodicLife, FireReset, ClipReward; loaded from the SB3 wheel without importing torch), then
cv2.resize INTER_AREA to 84x84, cv2 RGB2GRAY and a 4-frame stack filled with the first frame,
i.e. cleanRL's ppo_atari stack. Random actions from a 64-bit LCG; reset after every done, as a
vector env does. The noop counts NoopReset draws are recorded so the Rust side can replay them.

Setup (throwaway venv, pinned):
    python3 -m venv /tmp/lot-parity
    /tmp/lot-parity/bin/pip install ale-py==0.12.1 gymnasium==1.2.3 numpy==2.1.3 opencv-python-headless==4.10.0.84
    /tmp/lot-parity/bin/pip download --no-deps stable-baselines3==2.4.0 -d /tmp/lot-parity/dl
Run:
    /tmp/lot-parity/bin/python crates/lot/tests/atari_parity.py /tmp/lot-parity/dl/stable_baselines3-2.4.0-py3-none-any.whl /tmp/lot-parity/traces [STEPS]
    LOT_ATARI_PARITY_DIR=/tmp/lot-parity/traces cargo test --release -p lot --features atari --test atari -- --ignored parity --nocapture
"""
import collections
import hashlib
import json
import os
import sys
import types
import zipfile

import ale_py
import cv2
import gymnasium as gym
import numpy as np

GAMES = ["Breakout", "BeamRider", "UpNDown", "Gravitar"]
SEED = 1


def load_sb3_wrappers(wheel):
    src = zipfile.ZipFile(wheel).read("stable_baselines3/common/atari_wrappers.py").decode()
    aliases = types.ModuleType("stable_baselines3.common.type_aliases")
    aliases.AtariResetReturn = aliases.AtariStepReturn = object
    for name in ["stable_baselines3", "stable_baselines3.common"]:
        sys.modules[name] = types.ModuleType(name)
    sys.modules["stable_baselines3.common.type_aliases"] = aliases
    mod = types.ModuleType("atari_wrappers")
    exec(compile(src, "atari_wrappers.py", "exec"), mod.__dict__)
    return mod


def digest(a):
    """The first 16 hex digits of the sha256 of the array's bytes."""
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()[:16]


def trace(W, game, steps):
    noops = []

    class RecNoop(W.NoopResetEnv):
        """SB3's NoopResetEnv, recording each noop count it draws (one per reset)."""

        def __init__(self, env, noop_max=30):
            self._pending = None
            super().__init__(env, noop_max)

        @property
        def override_num_noops(self):
            if self._pending is None:
                self._pending = int(self.unwrapped.np_random.integers(1, self.noop_max + 1))
                noops.append(self._pending)
            return self._pending

        @override_num_noops.setter
        def override_num_noops(self, _v):
            pass

        def reset(self, **kw):
            self._pending = None
            return super().reset(**kw)

    env = gym.make(f"{game}NoFrameskip-v4")
    env = gym.wrappers.RecordEpisodeStatistics(env)
    env = RecNoop(env, noop_max=30)
    env = W.MaxAndSkipEnv(env, skip=4)
    env = W.EpisodicLifeEnv(env)
    if "FIRE" in env.unwrapped.get_action_meanings():
        env = W.FireResetEnv(env)
    env = W.ClipRewardEnv(env)
    ale = env.unwrapped.ale
    n_actions = env.action_space.n

    frames = collections.deque(maxlen=4)

    def push(obs, fill):
        g = cv2.cvtColor(cv2.resize(obs, (84, 84), interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY)
        for _ in range(4 if fill else 1):
            frames.append(g)
        return digest(np.stack(frames))

    obs, _ = env.reset(seed=SEED)
    out = {
        "game": game,
        "ale_seed": ale.getInt("random_seed"),
        "max_frames": ale.getInt("max_num_frames_per_episode"),
        "minimal": [int(a.value) for a in ale.getMinimalActionSet()],
        "reset_hash": push(obs, True),
        "steps": [],
    }
    lcg = 12345
    for _ in range(steps):
        lcg = (lcg * 6364136223846793005 + 1442695040888963407) & 0xFFFFFFFFFFFFFFFF
        a = (lcg >> 33) % n_actions
        obs, r, term, trunc, info = env.step(a)
        rec = {
            "a": int(a),
            "r": float(r),
            "term": bool(term),
            "trunc": bool(trunc),
            "lives": int(ale.lives()),
            "rgb": digest(obs),
            "stack": push(obs, False),
            "ep": [float(info["episode"]["r"]), int(info["episode"]["l"])] if "episode" in info else None,
        }
        if term or trunc:
            obs, _ = env.reset()
            rec["reset_rgb"] = digest(obs)
            rec["reset_stack"] = push(obs, True)
        out["steps"].append(rec)
    out["noops"] = noops
    return out


def main():
    wheel, out_dir = sys.argv[1], sys.argv[2]
    steps = int(sys.argv[3]) if len(sys.argv) > 3 else 5000
    assert ale_py.__version__ == "0.12.1" and cv2.__version__ == "4.10.0", (ale_py.__version__, cv2.__version__)
    gym.register_envs(ale_py)
    W = load_sb3_wrappers(wheel)
    os.makedirs(out_dir, exist_ok=True)
    for game in GAMES:
        t = trace(W, game, steps)
        with open(os.path.join(out_dir, f"{game}.json"), "w") as f:
            json.dump(t, f)
        eps = [s["ep"] for s in t["steps"] if s["ep"]]
        print(f"{game}: {steps} steps, {len(t['noops'])} real resets, episodes {eps}", file=sys.stderr)


if __name__ == "__main__":
    main()
