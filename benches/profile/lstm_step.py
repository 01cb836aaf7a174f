"""Where an LSTM-LM LoT teacher step spends its time: each part of the step timed alone, in fp32
and in bf16 the way `lot`'s fast path runs it, then weighted by how often a teacher step does it.

A teacher step with N student steps (the reference's schedule, which `lot` follows) is
  joint step:      teacher forward+backward, student forward+backward, 2 × (clip + SGD)
  N-1 student steps: teacher forward (no grad), student forward+backward, clip + SGD
so per teacher step: (N+1) forward+backward, (N-1) no-grad forwards, (N+1) optimizer updates.
Each training pass splits into the body (embedding + dropout + the fused 2-layer LSTM) and the
head (dropout + the nhid→vocab decoder + log-softmax, cross-entropy and the T-scaled KL against
fixed logits). bf16 as `lot` does it (crates/lot/src/text/lstm.rs): bf16 casts of fp32 master
weights, the LSTM and decoder in bf16, logits and losses in fp32.

Prints a table (ms per call, calls per teacher step, seconds per teacher step) and one JSON line.
Same libtorch kernels as `lot bench lstm` (torch 2.11.0); run on a quiet machine:
    python benches/profile/lstm_step.py --nhid 650 --threads 2
"""
import argparse
import json
import time

import torch
import torch.nn.functional as F


def timeit(fn, reps, warmup=2):
    for _ in range(warmup):
        fn()
    t = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t) / reps


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nhid", type=int, default=650)
    ap.add_argument("--vocab", type=int, default=10000)
    ap.add_argument("--batch-size", type=int, default=20)
    ap.add_argument("--bptt", type=int, default=35)
    ap.add_argument("--student-steps", type=int, default=5)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    H, V, B, L, N = args.nhid, args.vocab, args.batch_size, args.bptt, args.student_steps
    T, drop = 1.5, 0.5
    enc = (torch.rand(V, H) * 0.1 - 0.05).requires_grad_()
    k = 1 / H**0.5
    lstm_w = [(torch.rand(*s) * 2 * k - k).requires_grad_() for _ in range(2) for s in ((4 * H, H), (4 * H, H), (4 * H,), (4 * H,))]
    dec_w = (torch.rand(V, H) * 0.1 - 0.05).requires_grad_()
    dec_b = torch.zeros(V, requires_grad=True)
    params = [enc, *lstm_w, dec_w, dec_b]
    tokens = torch.randint(0, V, (L, B))
    targets = torch.randint(0, V, (L * B,))
    other = torch.randn(L * B, V)  # the other model's logits, fixed
    hidden = (torch.zeros(2, B, H), torch.zeros(2, B, H))

    def body(kind):
        c = (lambda t: t) if kind == torch.float32 else (lambda t: t.to(kind))
        emb = F.dropout(F.embedding(tokens, c(enc)), drop)
        out = torch._VF.lstm(emb, (c(hidden[0]), c(hidden[1])), [c(w) for w in lstm_w], True, 2, drop, True, False, False)[0]
        return out

    def head(out, kind):
        c = (lambda t: t) if kind == torch.float32 else (lambda t: t.to(kind))
        logits = F.linear(F.dropout(out, drop), c(dec_w), c(dec_b)).float().view(-1, V)
        kl = F.kl_div(F.log_softmax(logits / T, -1), F.log_softmax(other / T, -1), reduction="batchmean", log_target=True)
        return F.cross_entropy(logits, targets) + kl * T * T

    def zero():
        for p in params:
            p.grad = None

    rows = []
    for kind, name in ((torch.float32, "fp32"), (torch.bfloat16, "bf16")):
        out_fixed = body(kind).detach().requires_grad_()

        def body_fb():
            zero()
            body(kind).float().sum().backward()

        def head_fb():
            zero()
            head(out_fixed, kind).backward()

        def no_grad_fwd():
            with torch.no_grad():
                head(body(kind), kind)

        def opt():
            # clip_grad_norm_ + a plain SGD update (the trainers' momentum adds one op per tensor)
            torch.nn.utils.clip_grad_norm_(params, 0.25)
            with torch.no_grad():
                for p in params:
                    p.add_(p.grad, alpha=-1e-3)

        parts = {
            "body forward+backward": (timeit(body_fb, args.reps), N + 1),
            "head forward+backward": (timeit(head_fb, args.reps), N + 1),
            "no-grad forward (body+head)": (timeit(no_grad_fwd, args.reps), N - 1),
        }
        zero()
        head(body(kind), kind).backward()  # every parameter's gradient, for the update
        parts["clip + update"] = (timeit(opt, args.reps), N + 1)
        total = sum(t * n for t, n in parts.values())
        for part, (t, n) in parts.items():
            rows.append({"precision": name, "part": part, "ms_per_call": 1e3 * t, "calls": n, "s_per_teacher_step": t * n, "share": t * n / total})
        rows.append({"precision": name, "part": "sum", "s_per_teacher_step": total})
    print(f"LSTM LM 2x{H}, vocab {V}, batch {B}, bptt {L}, N {N}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    print("| precision | part | ms / call | calls / teacher step | s / teacher step | share |")
    print("|---|---|---:|---:|---:|---:|")
    for r in rows:
        if r["part"] == "sum":
            print(f"| {r['precision']} | **sum** | | | **{r['s_per_teacher_step']:.3f}** | |")
        else:
            print(f"| {r['precision']} | {r['part']} | {r['ms_per_call']:.1f} | {r['calls']} | {r['s_per_teacher_step']:.3f} | {100 * r['share']:.0f} % |")
    print(json.dumps({"nhid": H, "threads": torch.get_num_threads(), "rows": rows}))


if __name__ == "__main__":
    main()
