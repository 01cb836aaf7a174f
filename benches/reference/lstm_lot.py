"""LoT LSTM language model, the reference trainer's inner loop in PyTorch (our re-implementation).

What it reproduces of trainer/lstm_ptb.py + model/rnn.py (jincan333/LoT; docs/algorithm.md,
"Language models"):
  * Zaremba-style LSTM LM (embedding → dropout → nn.LSTM with dropout between layers → dropout →
    linear decoder, no tying, uniform(±0.05) embedding/decoder init), teacher seeded `seed`, student `seed + 1`;
  * batchify into `batch` columns; `get_batch` slices `bptt` rows with `.clone().detach()`;
  * each teacher step: hidden states repackaged (`clone().detach()`), both models forward on the
    teacher window with their teacher-stream hidden states, kl_ce losses (α·T²·KL on raw logits),
    zero_grad, teacher_loss.backward(), student_loss.backward(), clip_grad_norm_ per model, both
    SGD steps (momentum 0.3);
  * then N−1 student steps on the separate `current_index` (advances by bptt, wraps) with the
    student-stream hidden states of both models; the teacher runs forward with autograd (as the
    reference), the student backward + clip + step.
The tokens are synthetic: a PTB-sized train stream (929,589 ids over a 10k vocabulary).

Prints one JSON line: steps, total_s, train_s, per_step_s, peak RSS (resource.getrusage).
"""
import time

T_START = time.time()

import argparse
import json
import resource
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F


class RNNModel(nn.Module):
    def __init__(self, ntoken, ninp, nhid, nlayers, dropout=0.5):
        super().__init__()
        self.ntoken = ntoken
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = nn.LSTM(ninp, nhid, nlayers, dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)
        self.nhid, self.nlayers = nhid, nlayers
        initrange = 0.05
        self.encoder.weight.data.uniform_(-initrange, initrange)
        self.decoder.bias.data.zero_()
        self.decoder.weight.data.uniform_(-initrange, initrange)

    def forward(self, input, hidden):
        emb = self.drop(self.encoder(input))
        output, hidden = self.rnn(emb, hidden)
        output = self.drop(output)
        decoded = self.decoder(output)
        return decoded.view(-1, self.ntoken), hidden

    def init_hidden(self, bsz):
        weight = next(self.parameters())
        return (
            weight.new_zeros(self.nlayers, bsz, self.nhid),
            weight.new_zeros(self.nlayers, bsz, self.nhid),
        )


def kl_div_logits(p, q, T):
    loss_func = nn.KLDivLoss(reduction="batchmean", log_target=True)
    return loss_func(F.log_softmax(p / T, dim=-1), F.log_softmax(q / T, dim=-1)) * T * T


def batchify(data, bsz):
    nbatch = data.size(0) // bsz
    data = data.narrow(0, 0, nbatch * bsz)
    return data.view(bsz, -1).t().contiguous()


def repackage_hidden(h):
    return tuple(v.clone().detach() for v in h)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20, help="timed teacher steps")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=20)
    ap.add_argument("--bptt", type=int, default=35)
    ap.add_argument("--emsize", type=int, default=200)
    ap.add_argument("--nhid", type=int, default=200)
    ap.add_argument("--nlayers", type=int, default=2)
    ap.add_argument("--dropout", type=float, default=0.2)
    ap.add_argument("--vocab", type=int, default=10000)
    ap.add_argument("--tokens", type=int, default=929589)
    ap.add_argument("--student-steps", type=int, default=5, help="N")
    ap.add_argument("--alpha", type=float, default=1.0)
    ap.add_argument("--T", type=float, default=1.5)
    ap.add_argument("--lr", type=float, default=20.0)
    ap.add_argument("--momentum", type=float, default=0.3)
    ap.add_argument("--clip", type=float, default=0.2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", type=str, default="cpu")
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    cuda = device.type == "cuda"

    g = torch.Generator().manual_seed(args.seed)
    ids = torch.randint(0, args.vocab, (args.tokens,), generator=g)
    train_data = batchify(ids, args.batch_size)

    def get_batch(source, i):
        seq_len = min(args.bptt, len(source) - 1 - i)
        data = source[i : i + seq_len].clone().detach()
        target = source[i + 1 : i + 1 + seq_len].clone().detach().view(-1)
        return data.to(device), target.to(device)

    models = []
    for k in range(2):
        torch.manual_seed(args.seed + k)
        models.append(RNNModel(args.vocab, args.emsize, args.nhid, args.nlayers, args.dropout).to(device))
    opt = torch.optim.SGD(models[0].parameters(), lr=args.lr, momentum=args.momentum)
    student_opt = torch.optim.SGD(models[1].parameters(), lr=args.lr, momentum=args.momentum)
    for m in models:
        m.train()
    alpha, T = args.alpha, args.T
    current_index = 0
    teacher_hiddenes = [m.init_hidden(args.batch_size) for m in models]
    student_hiddenes = [m.init_hidden(args.batch_size) for m in models]
    total = args.warmup + args.steps
    total_loss = 0
    t_timed = time.time()
    windows = list(range(0, train_data.size(0) - 1, args.bptt))
    for step in range(total):
        if step == args.warmup:
            if cuda:
                torch.cuda.synchronize()
            t_timed = time.time()
        i = windows[step % len(windows)]
        data, targets = get_batch(train_data, i)
        teacher_hiddenes = [repackage_hidden(h) for h in teacher_hiddenes]
        logits_list = [0, 0]
        for k in range(2):
            logits_list[k], teacher_hiddenes[k] = models[k](data, teacher_hiddenes[k])
        teacher_loss = F.cross_entropy(logits_list[0], targets) + alpha * (
            kl_div_logits(logits_list[0], logits_list[1].detach(), T)
        )
        student_loss = F.cross_entropy(logits_list[1], targets) + alpha * kl_div_logits(
            logits_list[1], logits_list[0].detach(), T
        )
        opt.zero_grad()
        student_opt.zero_grad()
        teacher_loss.backward()
        student_loss.backward()
        torch.nn.utils.clip_grad_norm_(models[0].parameters(), args.clip)
        torch.nn.utils.clip_grad_norm_(models[1].parameters(), args.clip)
        opt.step()
        student_opt.step()
        for _ in range(args.student_steps - 1):
            data, targets = get_batch(train_data, current_index)
            current_index = (args.bptt + current_index) % (train_data.size(0) - 1)
            student_hiddenes = [repackage_hidden(h) for h in student_hiddenes]
            for k in range(2):
                logits_list[k], student_hiddenes[k] = models[k](data, student_hiddenes[k])
            student_loss = F.cross_entropy(logits_list[1], targets) + alpha * kl_div_logits(
                logits_list[1], logits_list[0].detach(), T
            )
            student_opt.zero_grad()
            student_loss.backward()
            torch.nn.utils.clip_grad_norm_(models[1].parameters(), args.clip)
            student_opt.step()
        total_loss += teacher_loss
    if cuda:
        torch.cuda.synchronize()
    final_loss = float(total_loss) / max(total, 1)
    t_end = time.time()
    train_s = t_end - t_timed
    out = {
        "program": "lstm_lot.py",
        "steps": args.steps,
        "warmup": args.warmup,
        "total_s": t_end - T_START,
        "train_s": train_s,
        "per_step_s": train_s / max(args.steps, 1),
        "tokens_per_s": args.steps * args.bptt * args.batch_size / max(train_s, 1e-9),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "children_peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0,
        "torch": torch.__version__,
        "python": sys.version.split()[0],
        "threads": torch.get_num_threads(),
        "device": str(device),
        "mean_teacher_loss": final_loss,
    }
    if cuda:
        out["gpu_max_allocated_mb"] = torch.cuda.max_memory_allocated() / 2**20
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    sys.exit(main())
