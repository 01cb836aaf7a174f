"""PPO + LoT updates on given rollouts, the reference trainer's loop in PyTorch, for comparison.

The loop of trainer/atari_games.py (jincan333/LoT) after the rollout, with its student cache as
the code builds it (docs/algorithm.md, "Student phase"):
  * `obs_cache.append(b_obs)` where b_obs is `obs.reshape(...)`, a *view* of the one rollout
    buffer that the next rollout overwrites in place: with --cache reference this script keeps
    such a buffer and appends views of it, so every entry is the current rollout;
  * per update: E epochs × M minibatches of joint steps (teacher PPO loss + α·T²·KL(p_s‖p_t), α
    = 0 in the first update; student T²·KL(p_t‖p_s); one backward of the sum; grad-norm clip per
    model; Adam), then `for _ in range(N): for e in range(len(obs_cache)): shuffle; for each
    minibatch: teacher logits (recomputed per minibatch), student KL step`.
With --cache distinct the entries are copies (the last obs_cache distinct rollouts) and each of
the N passes shuffles them all together (lot's `ppo.student_cache = "distinct"`).

cleanRL's 2×64 tanh actor-critic MLP, weights named as lot's (actor.0.weight …). Every shuffle
is read from the input, in the order the loop draws them, so lot's run can be replayed exactly.

    python ppo_student_cache.py IN.safetensors OUT.safetensors '{"updates": 5, ...}'

IN holds teacher.* and student.* (initial weights) and, per update u (0-based), u{u}.obs /
actions / logprobs / advantages / returns / values, u{u}.teacher_perms [E, B] and
u{u}.student_perms (the phase's permutations end to end, each of the rows it shuffles). OUT gets teacher.* and student.* after the last update.
Needs torch only (the .safetensors reader and writer are below).
"""
import json
import struct
import sys
from collections import deque

import torch
import torch.nn.functional as F

KINDS = {"F32": torch.float32, "I64": torch.int64, "F64": torch.float64, "U8": torch.uint8}


def read_safetensors(path):
    b = open(path, "rb").read()
    (n,) = struct.unpack("<Q", b[:8])
    header = json.loads(b[8 : 8 + n])
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        s, e = v["data_offsets"]
        out[k] = torch.frombuffer(bytearray(b[8 + n + s : 8 + n + e]), dtype=KINDS[v["dtype"]]).reshape(v["shape"]).clone()
    return out


def write_safetensors(path, tensors):
    names = {v: k for k, v in KINDS.items()}
    header, blobs, off = {}, [], 0
    for k, t in tensors.items():
        data = bytes(t.detach().contiguous().cpu().view(-1).view(torch.uint8).tolist())
        header[k] = {"dtype": names[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


class Mlp:
    """Actor and critic, 2×64 tanh each, from lot's named weights."""

    def __init__(self, weights, prefix):
        self.p = {k[len(prefix) :]: torch.nn.Parameter(v.clone()) for k, v in weights.items() if k.startswith(prefix)}

    def parameters(self):
        return list(self.p.values())

    def head(self, x, name):
        p = self.p
        h = torch.tanh(F.linear(x, p[f"{name}.0.weight"], p[f"{name}.0.bias"]))
        h = torch.tanh(F.linear(h, p[f"{name}.2.weight"], p[f"{name}.2.bias"]))
        return F.linear(h, p[f"{name}.4.weight"], p[f"{name}.4.bias"])

    def logits_value(self, x):
        return self.head(x, "actor"), self.head(x, "critic").view(-1)


def kl_div_logits(p, q, T):
    """The reference's: KL(softmax(q/T) ‖ softmax(p/T)) · T², batch mean."""
    return F.kl_div(F.log_softmax(p / T, dim=-1), F.log_softmax(q / T, dim=-1), reduction="batchmean", log_target=True) * T * T


def ppo_loss(logits, newvalue, mb, a):
    logp_all = F.log_softmax(logits, dim=-1)
    newlogprob = logp_all.gather(-1, mb["actions"].long().unsqueeze(-1)).squeeze(-1)
    entropy = -(logp_all.exp() * logp_all).sum(-1)
    ratio = (newlogprob - mb["logprobs"]).exp()
    adv = mb["advantages"]
    adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    pg_loss = torch.max(-adv * ratio, -adv * torch.clamp(ratio, 1 - a["clip_coef"], 1 + a["clip_coef"])).mean()
    v_unclipped = (newvalue - mb["returns"]) ** 2
    v_clipped = mb["values"] + torch.clamp(newvalue - mb["values"], -a["clip_coef"], a["clip_coef"])
    v_loss = 0.5 * torch.max(v_unclipped, (v_clipped - mb["returns"]) ** 2).mean()
    return pg_loss - a["ent_coef"] * entropy.mean() + v_loss * a["vf_coef"]


def main():
    src, dst, a = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    torch.set_num_threads(1)
    w = read_safetensors(src)
    teacher, student = Mlp(w, "teacher."), Mlp(w, "student.")
    t_opt = torch.optim.Adam(teacher.parameters(), lr=a["lr"], eps=a["adam_eps"])
    s_opt = torch.optim.Adam(student.parameters(), lr=a["lr"], eps=a["adam_eps"], weight_decay=a["student_weight_decay"])
    T, N, mbs = a["temperature"], a["student_steps"], a["minibatch_size"]
    obs_cache = deque(maxlen=a["obs_cache"])
    buffer = None  # the reference's one rollout buffer (teacher_obs)
    alpha = 0.0
    for u in range(a["updates"]):
        r = {k: w[f"u{u}.{k}"] for k in ["obs", "actions", "logprobs", "advantages", "returns", "values"]}
        if a["cache"] == "reference":
            if buffer is None:
                buffer = torch.zeros_like(r["obs"])
            buffer.copy_(r["obs"])  # `teacher_obs[step] = next_obs`: overwritten in place
            b_obs = buffer.reshape(r["obs"].shape)  # a view, as `teacher_obs.reshape(...)`
        else:
            b_obs = r["obs"].clone()
        obs_cache.append(b_obs)
        batch = b_obs.shape[0]
        for inds in w[f"u{u}.teacher_perms"]:
            for start in range(0, batch, mbs):
                i = inds[start : start + mbs]
                mb = {k: v[i] for k, v in r.items()}
                t_logits, t_value = teacher.logits_value(b_obs[i])
                s_logits, _ = student.logits_value(b_obs[i])
                teacher_loss = ppo_loss(t_logits, t_value, mb, a) + alpha * kl_div_logits(t_logits, s_logits.detach(), T)
                student_loss = kl_div_logits(s_logits, t_logits.detach(), T)
                t_opt.zero_grad()
                s_opt.zero_grad()
                (student_loss + teacher_loss).backward()
                torch.nn.utils.clip_grad_norm_(teacher.parameters(), a["max_grad_norm"])
                torch.nn.utils.clip_grad_norm_(student.parameters(), a["max_grad_norm"])
                t_opt.step()
                s_opt.step()
        perms, used = w[f"u{u}.student_perms"], 0

        def shuffle(n):
            nonlocal used
            used += n
            return perms[used - n : used]

        for _ in range(N):
            alpha = a["alpha"]
            if a["cache"] == "reference":
                # the reference's loop: every entry shuffled on its own
                entries = [(obs_cache[e], shuffle(batch)) for e in range(len(obs_cache))]
            else:
                c_obs = torch.cat(list(obs_cache))
                entries = [(c_obs, shuffle(c_obs.shape[0]))]
            for c_obs, inds in entries:
                for start in range(0, c_obs.shape[0], mbs):
                    i = inds[start : start + mbs]
                    t_logits, _ = teacher.logits_value(c_obs[i])
                    s_logits, _ = student.logits_value(c_obs[i])
                    student_loss = kl_div_logits(s_logits, t_logits.detach(), T)
                    s_opt.zero_grad()
                    student_loss.backward()
                    torch.nn.utils.clip_grad_norm_(student.parameters(), a["max_grad_norm"])
                    s_opt.step()
        assert used == perms.shape[0], "unused student shuffles"
    out = {f"teacher.{k}": v for k, v in teacher.p.items()}
    out.update({f"student.{k}": v for k, v in student.p.items()})
    write_safetensors(dst, out)


if __name__ == "__main__":
    main()
