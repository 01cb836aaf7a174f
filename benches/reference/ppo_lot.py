"""PPO + LoT on CartPole or an Atari game, the reference trainer's loop in PyTorch (our re-implementation).

What it reproduces of trainer/atari_games.py (jincan333/LoT; docs/algorithm.md, "Reinforcement
learning (PPO)") — cleanRL PPO with LoT — at the CartPole size of configs/cartpole_lot.toml:
  * 8 CartPole-v1 envs stepped one after the other in Python (gym's SyncVectorEnv, autoreset;
    the dynamics written out as gymnasium's, 500-step time limit), 128 steps per rollout, the
    teacher acting under no_grad, GAE (γ 0.99, λ 0.95);
  * cleanRL's CartPole actor-critic (2×64 tanh MLPs, orthogonal init) for teacher and student;
  * per update: 4 epochs × 4 shuffled minibatches of joint steps — teacher PPO loss (clip 0.2,
    clipped value loss, advantage normalisation) + α·T²·KL(p_s‖p_t), student T²·KL(p_t‖p_s),
    one backward of the sum, grad-norm clip 0.5 per model, Adam (eps 1e-5; student wd 1e-4);
  * then N passes over a deque of up to 10 entries, 4 shuffled minibatches each; as in the
    reference the entries are views of the one rollout buffer, so each is the current rollout
    (lot's default `ppo.student_cache = "reference"`); the teacher's logits recomputed per minibatch with autograd on (as the reference), student KL
    step; α is 0 until the first student phase; cosine lr per update for both.
With --env BreakoutNoFrameskip-v4 (any gym v4 NoFrameskip Atari name; needs `bash
benches/reference/setup.sh --atari`: gymnasium, ale-py 0.12.1 with its ROMs, stable-baselines3, opencv)
the same loop runs at the size of configs/atari_breakout_lot.toml, as cleanRL's ppo_atari.py does it:
  * each env is gym.make(NAME) → RecordEpisodeStatistics → SB3's NoopResetEnv(30) → MaxAndSkipEnv(4)
    → EpisodicLifeEnv → FireResetEnv (if action 1 is FIRE) → ClipRewardEnv → ResizeObservation 84×84
    (cv2 INTER_AREA on RGB) → gray (cv2 RGB2GRAY, as gym 0.23's / gymnasium 0.29's GrayScaleObservation;
    gymnasium 1.x's does a float dot product instead) → FrameStack 4 (first frame repeated at reset),
    in a gymnasium SyncVectorEnv of 8 with same-step autoreset (gym 0.23's semantics), env i seeded seed + i;
  * cleanRL's Nature-CNN agent (32·8s4, 64·4s2, 64·3s1, fc 512, ReLU, obs/255, orthogonal init √2,
    actor 0.01, critic 1) for teacher and student, float32 observation buffers as cleanRL's;
  * clip 0.1, entropy 0.01, Adam 2.5e-4 cosine-annealed to 2.5e-6 (the LoT reference's schedule).
Prints one JSON line: steps (= updates), total_s, train_s (all updates), per_step_s, peak RSS.
"""
import time

T_START = time.time()

import argparse
import json
import math
import random
import resource
import sys
from collections import deque

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.distributions.categorical import Categorical


class CartPole:
    """gymnasium CartPole-v1: Euler integration, termination at |x| > 2.4 or |θ| > 12°, 500-step limit."""

    gravity, masscart, masspole, length, force_mag, tau = 9.8, 1.0, 0.1, 0.5, 10.0, 0.02
    total_mass = masspole + masscart
    polemass_length = masspole * length
    theta_threshold = 12 * 2 * math.pi / 360
    x_threshold = 2.4

    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.state = None
        self.t = 0

    def reset(self):
        self.state = [self.rng.uniform(-0.05, 0.05) for _ in range(4)]
        self.t = 0
        return list(self.state)

    def step(self, action):
        x, x_dot, theta, theta_dot = self.state
        force = self.force_mag if action == 1 else -self.force_mag
        costheta, sintheta = math.cos(theta), math.sin(theta)
        temp = (force + self.polemass_length * theta_dot**2 * sintheta) / self.total_mass
        thetaacc = (self.gravity * sintheta - costheta * temp) / (
            self.length * (4.0 / 3.0 - self.masspole * costheta**2 / self.total_mass)
        )
        xacc = temp - self.polemass_length * thetaacc * costheta / self.total_mass
        x = x + self.tau * x_dot
        x_dot = x_dot + self.tau * xacc
        theta = theta + self.tau * theta_dot
        theta_dot = theta_dot + self.tau * thetaacc
        self.state = [x, x_dot, theta, theta_dot]
        self.t += 1
        terminated = x < -self.x_threshold or x > self.x_threshold or theta < -self.theta_threshold or theta > self.theta_threshold
        truncated = self.t >= 500
        return list(self.state), 1.0, terminated, truncated


class SyncVectorEnv:
    def __init__(self, n, seed):
        self.envs = [CartPole(seed + i) for i in range(n)]

    def reset(self):
        return [e.reset() for e in self.envs]

    def step(self, actions):
        obs, rews, dones, returns = [], [], [], []
        for e, a in zip(self.envs, actions):
            o, r, term, trunc = e.step(a)
            if term or trunc:
                o = e.reset()
            obs.append(o)
            rews.append(r)
            dones.append(float(term or trunc))
        return obs, rews, dones


def layer_init(layer, std=math.sqrt(2), bias_const=0.0):
    torch.nn.init.orthogonal_(layer.weight, std)
    torch.nn.init.constant_(layer.bias, bias_const)
    return layer


class Agent(nn.Module):
    def __init__(self, obs_dim, n_actions):
        super().__init__()
        self.critic = nn.Sequential(
            layer_init(nn.Linear(obs_dim, 64)), nn.Tanh(), layer_init(nn.Linear(64, 64)), nn.Tanh(), layer_init(nn.Linear(64, 1), std=1.0)
        )
        self.actor = nn.Sequential(
            layer_init(nn.Linear(obs_dim, 64)), nn.Tanh(), layer_init(nn.Linear(64, 64)), nn.Tanh(), layer_init(nn.Linear(64, n_actions), std=0.01)
        )

    def get_value(self, x):
        return self.critic(x)

    def get_action_and_value(self, x, action=None):
        logits = self.actor(x)
        probs = Categorical(logits=logits)
        if action is None:
            action = probs.sample()
        return action, probs.log_prob(action), probs.entropy(), self.critic(x), logits


class AtariAgent(nn.Module):
    """cleanRL ppo_atari.py's Agent: the Nature CNN on 4×84×84 uint8 frames scaled by 1/255."""

    def __init__(self, n_actions):
        super().__init__()
        self.network = nn.Sequential(
            layer_init(nn.Conv2d(4, 32, 8, stride=4)),
            nn.ReLU(),
            layer_init(nn.Conv2d(32, 64, 4, stride=2)),
            nn.ReLU(),
            layer_init(nn.Conv2d(64, 64, 3, stride=1)),
            nn.ReLU(),
            nn.Flatten(),
            layer_init(nn.Linear(64 * 7 * 7, 512)),
            nn.ReLU(),
        )
        self.actor = layer_init(nn.Linear(512, n_actions), std=0.01)
        self.critic = layer_init(nn.Linear(512, 1), std=1)

    def get_value(self, x):
        return self.critic(self.network(x / 255.0))

    def get_action_and_value(self, x, action=None):
        hidden = self.network(x / 255.0)
        logits = self.actor(hidden)
        probs = Categorical(logits=logits)
        if action is None:
            action = probs.sample()
        return action, probs.log_prob(action), probs.entropy(), self.critic(hidden), logits


def is_atari(name):
    return name.endswith("NoFrameskip-v4") and len(name) > len("NoFrameskip-v4")


class AtariVectorEnv:
    """cleanRL ppo_atari.py's envs: gymnasium + ale-py + SB3's atari wrappers in a SyncVectorEnv."""

    def __init__(self, env_id, n, seed):
        import cv2
        import gymnasium as gym
        import numpy as np
        import ale_py
        from stable_baselines3.common.atari_wrappers import ClipRewardEnv, EpisodicLifeEnv, FireResetEnv, MaxAndSkipEnv, NoopResetEnv

        gym.register_envs(ale_py)
        self.np = np

        class GrayScaleObservation(gym.ObservationWrapper):
            """gym 0.23's GrayScaleObservation (keep_dim=False): cv2 RGB2GRAY."""

            def __init__(self, env):
                super().__init__(env)
                h, w = env.observation_space.shape[:2]
                self.observation_space = gym.spaces.Box(0, 255, (h, w), np.uint8)

            def observation(self, obs):
                return cv2.cvtColor(obs, cv2.COLOR_RGB2GRAY)

        def make_env(i):
            def thunk():
                env = gym.make(env_id)
                env = gym.wrappers.RecordEpisodeStatistics(env)
                env = NoopResetEnv(env, noop_max=30)
                env = MaxAndSkipEnv(env, skip=4)
                env = EpisodicLifeEnv(env)
                if "FIRE" in env.unwrapped.get_action_meanings():
                    env = FireResetEnv(env)
                env = ClipRewardEnv(env)
                env = gym.wrappers.ResizeObservation(env, (84, 84))
                env = GrayScaleObservation(env)
                env = gym.wrappers.FrameStackObservation(env, 4)
                env.action_space.seed(seed + i)
                return env

            return thunk

        kwargs = {}
        if hasattr(gym.vector, "AutoresetMode"):  # gymnasium >= 1.1: gym 0.23's same-step autoreset
            kwargs["autoreset_mode"] = gym.vector.AutoresetMode.SAME_STEP
        self.envs = gym.vector.SyncVectorEnv([make_env(i) for i in range(n)], **kwargs)
        self.seed = seed
        self.obs_shape = self.envs.single_observation_space.shape
        self.n_actions = int(self.envs.single_action_space.n)

    def reset(self):
        obs, _ = self.envs.reset(seed=self.seed)
        return obs

    def step(self, actions):
        obs, rews, term, trunc, _ = self.envs.step(self.np.asarray(actions))
        return obs, rews, self.np.logical_or(term, trunc).astype(self.np.float32)


def as_tensor(x, device):
    """Observations, rewards and dones (lists or numpy arrays) as float32 tensors on `device`."""
    return torch.as_tensor(x, dtype=torch.float32).to(device)


def kl_div_logits(p, q, T):
    loss_func = nn.KLDivLoss(reduction="batchmean", log_target=True)
    return loss_func(F.log_softmax(p / T, dim=-1), F.log_softmax(q / T, dim=-1)) * T * T


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--env", type=str, default="CartPole-v1", help="CartPole-v1 or an Atari game, e.g. BreakoutNoFrameskip-v4")
    ap.add_argument("--steps", type=int, default=10, help="PPO updates (teacher steps)")
    ap.add_argument("--warmup", type=int, default=0, help="ignored: every update is timed")
    ap.add_argument("--num-envs", type=int, default=8)
    ap.add_argument("--num-steps", type=int, default=128)
    ap.add_argument("--student-steps", type=int, default=5, help="N")
    ap.add_argument("--obs-cache", type=int, default=10)
    ap.add_argument("--alpha", type=float, default=0.5)
    ap.add_argument("--T", type=float, default=1.0)
    ap.add_argument("--lr", type=float, default=None, help="default: 1e-3 (CartPole), 2.5e-4 (Atari)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--device", type=str, default="cpu")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--batch-size", type=int, default=0, help="ignored (num_envs × num_steps)")
    args = ap.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    atari = is_atari(args.env)
    if not atari and args.env != "CartPole-v1":
        ap.error(f"--env {args.env}: expected CartPole-v1 or an Atari NoFrameskip-v4 game")
    if atari:  # cleanRL ppo_atari / configs/atari_breakout_lot.toml
        clip_coef, ent_coef, lr_default, lr_min = 0.1, 0.01, 2.5e-4, 2.5e-6
    else:  # configs/cartpole_lot.toml
        clip_coef, ent_coef, lr_default, lr_min = 0.2, 0.0, 1e-3, 1e-5
    lr = args.lr if args.lr is not None else lr_default
    gamma, gae_lambda, vf_coef, max_grad_norm = 0.99, 0.95, 0.5, 0.5
    update_epochs, num_minibatches = 4, 4
    batch_size = args.num_envs * args.num_steps
    minibatch_size = batch_size // num_minibatches
    num_updates = args.steps

    random.seed(args.seed)
    torch.manual_seed(args.seed)
    if atari:
        envs = AtariVectorEnv(args.env, args.num_envs, args.seed)
        obs_shape, n_actions = tuple(envs.obs_shape), envs.n_actions
        teacher, student = AtariAgent(n_actions).to(device), AtariAgent(n_actions).to(device)
    else:
        envs = SyncVectorEnv(args.num_envs, args.seed)
        obs_shape = (4,)
        teacher, student = Agent(4, 2).to(device), Agent(4, 2).to(device)
    teacher_optimizer = torch.optim.Adam(teacher.parameters(), lr=lr, eps=1e-5)
    student_optimizer = torch.optim.Adam(student.parameters(), lr=lr, eps=1e-5, weight_decay=1e-4)
    sched = lambda u: lr_min + (lr - lr_min) * (1 + math.cos(math.pi * u / num_updates)) / 2
    obs_cache = deque(maxlen=args.obs_cache)
    obs = torch.zeros((args.num_steps, args.num_envs) + obs_shape, device=device)
    actions = torch.zeros((args.num_steps, args.num_envs), device=device)
    logprobs = torch.zeros((args.num_steps, args.num_envs), device=device)
    rewards = torch.zeros((args.num_steps, args.num_envs), device=device)
    dones = torch.zeros((args.num_steps, args.num_envs), device=device)
    values = torch.zeros((args.num_steps, args.num_envs), device=device)
    next_obs = as_tensor(envs.reset(), device)
    next_done = torch.zeros(args.num_envs, device=device)
    alpha, T = 0.0, args.T
    t_train = time.time()
    for update in range(num_updates):
        for opt in (teacher_optimizer, student_optimizer):
            for pg in opt.param_groups:
                pg["lr"] = sched(update)
        for step in range(args.num_steps):
            obs[step] = next_obs
            dones[step] = next_done
            with torch.no_grad():
                action, logprob, _, value, _ = teacher.get_action_and_value(next_obs)
                values[step] = value.flatten()
            actions[step] = action
            logprobs[step] = logprob
            o, r, d = envs.step(action.cpu().tolist())
            rewards[step] = as_tensor(r, device)
            next_obs, next_done = as_tensor(o, device), as_tensor(d, device)
        with torch.no_grad():
            next_value = teacher.get_value(next_obs).reshape(1, -1)
            advantages = torch.zeros_like(rewards)
            lastgaelam = 0
            for t in reversed(range(args.num_steps)):
                if t == args.num_steps - 1:
                    nextnonterminal = 1.0 - next_done
                    nextvalues = next_value
                else:
                    nextnonterminal = 1.0 - dones[t + 1]
                    nextvalues = values[t + 1]
                delta = rewards[t] + gamma * nextvalues * nextnonterminal - values[t]
                advantages[t] = lastgaelam = delta + gamma * gae_lambda * nextnonterminal * lastgaelam
            returns = advantages + values
        b_obs = obs.reshape((-1,) + obs_shape)
        b_logprobs = logprobs.reshape(-1)
        b_actions = actions.reshape(-1)
        b_advantages = advantages.reshape(-1)
        b_returns = returns.reshape(-1)
        b_values = values.reshape(-1)
        b_inds = list(range(batch_size))
        obs_cache.append(b_obs)  # a view of `obs`, overwritten by the next rollout, as the reference's
        for epoch in range(update_epochs):
            random.shuffle(b_inds)
            for start in range(0, batch_size, minibatch_size):
                mb = torch.tensor(b_inds[start : start + minibatch_size], device=device)
                _, newlogprob, entropy, newvalue, t_logits = teacher.get_action_and_value(b_obs[mb], b_actions.long()[mb])
                logratio = newlogprob - b_logprobs[mb]
                ratio = logratio.exp()
                _, _, _, _, s_logits = student.get_action_and_value(b_obs[mb], b_actions.long()[mb])
                with torch.no_grad():
                    approx_kl = ((ratio - 1) - logratio).mean()
                    clipfrac = ((ratio - 1.0).abs() > clip_coef).float().mean().item()
                mb_adv = b_advantages[mb]
                mb_adv = (mb_adv - mb_adv.mean()) / (mb_adv.std() + 1e-8)
                pg_loss = torch.max(-mb_adv * ratio, -mb_adv * torch.clamp(ratio, 1 - clip_coef, 1 + clip_coef)).mean()
                newvalue = newvalue.view(-1)
                v_unclipped = (newvalue - b_returns[mb]) ** 2
                v_clipped = b_values[mb] + torch.clamp(newvalue - b_values[mb], -clip_coef, clip_coef)
                v_loss = 0.5 * torch.max(v_unclipped, (v_clipped - b_returns[mb]) ** 2).mean()
                teacher_loss = pg_loss - ent_coef * entropy.mean() + v_loss * vf_coef
                teacher_loss = teacher_loss + alpha * kl_div_logits(t_logits, s_logits.detach(), T)
                student_loss = kl_div_logits(s_logits, t_logits.detach(), T)
                loss = student_loss + teacher_loss
                teacher_optimizer.zero_grad()
                student_optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(teacher.parameters(), max_grad_norm)
                nn.utils.clip_grad_norm_(student.parameters(), max_grad_norm)
                teacher_optimizer.step()
                student_optimizer.step()
        for _ in range(args.student_steps):
            alpha = args.alpha
            for e in range(len(obs_cache)):
                c_obs = obs_cache[e]
                random.shuffle(b_inds)
                for start in range(0, batch_size, minibatch_size):
                    mb = torch.tensor(b_inds[start : start + minibatch_size], device=device)
                    _, _, _, _, t_logits = teacher.get_action_and_value(c_obs[mb], b_actions.long()[mb])
                    _, _, _, _, s_logits = student.get_action_and_value(c_obs[mb], b_actions.long()[mb])
                    student_loss = kl_div_logits(s_logits, t_logits.detach(), T)
                    student_optimizer.zero_grad()
                    student_loss.backward()
                    nn.utils.clip_grad_norm_(student.parameters(), max_grad_norm)
                    student_optimizer.step()
    t_end = time.time()
    train_s = t_end - t_train
    print(
        json.dumps(
            {
                "program": "ppo_lot.py",
                "env": args.env,
                "steps": num_updates,
                "warmup": 0,
                "total_s": t_end - T_START,
                "train_s": train_s,
                "per_step_s": train_s / max(num_updates, 1),
                "env_steps_per_s": num_updates * batch_size / max(train_s, 1e-9),
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
                "children_peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0,
                "torch": torch.__version__,
                "python": sys.version.split()[0],
                "threads": torch.get_num_threads(),
                "device": str(device),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
