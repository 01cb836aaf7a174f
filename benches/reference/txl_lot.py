"""LoT Transformer-XL language model, the reference trainer's inner loop in PyTorch (our re-implementation).

What it reproduces of the LoT reference's Transformer-XL trainer and Dai et al.'s
pytorch/mem_transformer.py (`MemTransformerLM`; docs/algorithm.md, "Language models"), in the
configuration the reference trains on PTB:
  * relative partial-learnable multi-head attention (attn_type 0) with the content and position
    biases r_w_bias / r_r_bias shared by all layers, sinusoidal relative positions, the
    `_rel_shift` trick, post-LayerNorm blocks, position-wise FF (Linear, ReLU, Dropout, Linear,
    Dropout), the einsum formulation of the original;
  * segment recurrence: each layer's input of the last mem_len steps kept, detached (ext_len 0);
  * tied input/output embedding (div_val 1, no cutoffs): logits = h·Eᵀ + b, input E[x]·√d_model;
  * the reference's state_dict keys, so that the weights `lot train` saves for a Transformer-XL
    load with load_state_dict(strict=True);
  * weights_init 'normal' (std 0.02), teacher seeded `seed`, student `seed + 1`;
  * each teacher step: both models forward on the teacher window with their teacher-stream
    memories, kl_ce losses (α·T²·KL on raw logits), zero_grad, both backwards, clip_grad_norm_
    per model, both Adam steps; then N−1 student steps on the student's own cursor (advances by
    tgt_len, wraps) with the student-stream memories of both models, the teacher forward with
    autograd as the reference, the student backward + clip + step.
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

INIT_STD = 0.02


class AdaptiveEmbedding(nn.Module):
    """The reference's AdaptiveEmbedding with div_val 1 and no cutoffs (d_proj = d_embed): one
    Embedding in `emb_layers`, its output scaled by sqrt(d_model)."""

    def __init__(self, n_token, d_embed):
        super().__init__()
        self.emb_scale = d_embed ** 0.5
        self.emb_layers = nn.ModuleList([nn.Embedding(n_token, d_embed)])

    def forward(self, inp):
        return self.emb_layers[0](inp) * self.emb_scale


class ProjectedAdaptiveLogSoftmax(nn.Module):
    """The parameters of the reference's ProjectedAdaptiveLogSoftmax with no cutoffs: `out_layers`
    holds one Linear(d_embed, n_token) whose weight the model ties to the embedding's and whose
    bias is the output bias. It is built without initialisation (no random draws): the weight is
    replaced by the embedding's and weights_init zeroes the bias."""

    def __init__(self, n_token, d_embed):
        super().__init__()
        self.out_layers = nn.ModuleList([torch.nn.utils.skip_init(nn.Linear, d_embed, n_token)])


class PositionalEmbedding(nn.Module):
    def __init__(self, demb):
        super().__init__()
        inv_freq = 1 / (10000 ** (torch.arange(0.0, demb, 2.0) / demb))
        self.register_buffer("inv_freq", inv_freq)

    def forward(self, pos_seq):
        sinusoid_inp = torch.outer(pos_seq, self.inv_freq)
        return torch.cat([sinusoid_inp.sin(), sinusoid_inp.cos()], dim=-1)[:, None, :]


class PositionwiseFF(nn.Module):
    def __init__(self, d_model, d_inner, dropout):
        super().__init__()
        self.CoreNet = nn.Sequential(
            nn.Linear(d_model, d_inner), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(d_inner, d_model), nn.Dropout(dropout),
        )
        self.layer_norm = nn.LayerNorm(d_model)

    def forward(self, inp):
        return self.layer_norm(inp + self.CoreNet(inp))


class RelPartialLearnableMultiHeadAttn(nn.Module):
    def __init__(self, n_head, d_model, d_head, dropout, dropatt):
        super().__init__()
        self.n_head, self.d_head = n_head, d_head
        self.qkv_net = nn.Linear(d_model, 3 * n_head * d_head, bias=False)
        self.r_net = nn.Linear(d_model, n_head * d_head, bias=False)
        self.o_net = nn.Linear(n_head * d_head, d_model, bias=False)
        self.drop, self.dropatt = nn.Dropout(dropout), nn.Dropout(dropatt)
        self.layer_norm = nn.LayerNorm(d_model)
        self.scale = 1 / (d_head ** 0.5)

    @staticmethod
    def _rel_shift(x):
        zero_pad = torch.zeros((x.size(0), 1, *x.size()[2:]), device=x.device, dtype=x.dtype)
        x_padded = torch.cat([zero_pad, x], dim=1)
        x_padded = x_padded.view(x.size(1) + 1, x.size(0), *x.size()[2:])
        return x_padded[1:].view_as(x)

    def forward(self, w, r, r_w_bias, r_r_bias, attn_mask, mems):
        qlen, rlen, bsz = w.size(0), r.size(0), w.size(1)
        n, d = self.n_head, self.d_head
        cat = torch.cat([mems, w], 0) if mems is not None and mems.numel() > 0 else w
        w_heads = self.qkv_net(cat)
        r_head_k = self.r_net(r)
        w_head_q, w_head_k, w_head_v = torch.chunk(w_heads, 3, dim=-1)
        w_head_q = w_head_q[-qlen:]
        klen = w_head_k.size(0)
        w_head_q = w_head_q.view(qlen, bsz, n, d)
        w_head_k = w_head_k.view(klen, bsz, n, d)
        w_head_v = w_head_v.view(klen, bsz, n, d)
        r_head_k = r_head_k.view(rlen, n, d)
        ac = torch.einsum("ibnd,jbnd->ijbn", (w_head_q + r_w_bias, w_head_k))
        bd = self._rel_shift(torch.einsum("ibnd,jnd->ijbn", (w_head_q + r_r_bias, r_head_k)))
        attn_score = (ac + bd) * self.scale
        attn_score = attn_score.float().masked_fill(attn_mask[:, :, :, None], -float("inf")).type_as(attn_score)
        attn_prob = self.dropatt(F.softmax(attn_score, dim=1))
        attn_vec = torch.einsum("ijbn,jbnd->ibnd", (attn_prob, w_head_v)).contiguous().view(qlen, bsz, n * d)
        return self.layer_norm(w + self.drop(self.o_net(attn_vec)))


class DecoderLayer(nn.Module):
    def __init__(self, n_head, d_model, d_head, d_inner, dropout, dropatt):
        super().__init__()
        self.dec_attn = RelPartialLearnableMultiHeadAttn(n_head, d_model, d_head, dropout, dropatt)
        self.pos_ff = PositionwiseFF(d_model, d_inner, dropout)

    def forward(self, dec_inp, r, r_w_bias, r_r_bias, mask, mems):
        return self.pos_ff(self.dec_attn(dec_inp, r, r_w_bias, r_r_bias, mask, mems))


class MemTransformerLM(nn.Module):
    def __init__(self, n_token, n_layer, n_head, d_model, d_head, d_inner, dropout, dropatt, mem_len):
        super().__init__()
        self.n_token, self.d_model, self.mem_len = n_token, d_model, mem_len
        # state_dict keys as the reference's MemTransformerLM: word_emb.emb_layers.0.weight,
        # crit.out_layers.0.{weight,bias} (the weight is the embedding), layers.<i>.…,
        # pos_emb.inv_freq (a buffer), r_w_bias, r_r_bias (shared, untie_r False). The children
        # come in this order (and r_w_bias/r_r_bias are the model's own parameters) so that the
        # construction and the weights_init loop below draw the same numbers in the same order as
        # before the renaming.
        self.word_emb = AdaptiveEmbedding(n_token, d_model)
        self.crit = ProjectedAdaptiveLogSoftmax(n_token, d_model)
        self.crit.out_layers[0].weight = self.word_emb.emb_layers[0].weight
        self.drop = nn.Dropout(dropout)
        self.layers = nn.ModuleList(
            [DecoderLayer(n_head, d_model, d_head, d_inner, dropout, dropatt) for _ in range(n_layer)]
        )
        self.pos_emb = PositionalEmbedding(d_model)
        self.r_w_bias = nn.Parameter(torch.empty(n_head, d_head))
        self.r_r_bias = nn.Parameter(torch.empty(n_head, d_head))
        for name, p in self.named_parameters():
            if "layer_norm" in name and name.endswith("weight"):
                nn.init.normal_(p, 1.0, INIT_STD)
            elif name.endswith("bias") and p.dim() == 1:
                nn.init.zeros_(p)
            else:
                nn.init.normal_(p, 0.0, INIT_STD)

    def init_mems(self, bsz, device):
        return [torch.empty(0, bsz, self.d_model, device=device) for _ in range(len(self.layers) + 1)]

    def forward(self, dec_inp, mems):
        qlen, bsz = dec_inp.size()
        word_emb = self.word_emb(dec_inp)
        mlen = mems[0].size(0)
        klen = mlen + qlen
        mask = torch.triu(word_emb.new_ones(qlen, klen), diagonal=1 + mlen).bool()[:, :, None]
        pos_seq = torch.arange(klen - 1, -1, -1.0, device=word_emb.device, dtype=word_emb.dtype)
        pos_emb = self.drop(self.pos_emb(pos_seq))
        core_out = self.drop(word_emb)
        hids = [core_out]
        for i, layer in enumerate(self.layers):
            core_out = layer(core_out, pos_emb, self.r_w_bias, self.r_r_bias, mask, mems[i])
            hids.append(core_out)
        core_out = self.drop(core_out)
        with torch.no_grad():
            new_mems = [torch.cat([m, h], 0)[-self.mem_len:].detach() for m, h in zip(mems, hids)]
        out_layer = self.crit.out_layers[0]
        logits = F.linear(core_out, out_layer.weight, out_layer.bias)
        return logits.view(-1, self.n_token), new_mems


def kl_div_logits(p, q, T):
    loss_func = nn.KLDivLoss(reduction="batchmean", log_target=True)
    return loss_func(F.log_softmax(p / T, dim=-1), F.log_softmax(q / T, dim=-1)) * T * T


def batchify(data, bsz):
    nbatch = data.size(0) // bsz
    data = data.narrow(0, 0, nbatch * bsz)
    return data.view(bsz, -1).t().contiguous()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=5, help="timed teacher steps")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=60)
    ap.add_argument("--bptt", type=int, default=70, help="tgt_len")
    ap.add_argument("--mem-len", type=int, default=70)
    ap.add_argument("--n-layer", type=int, default=4)
    ap.add_argument("--d-model", type=int, default=200)
    ap.add_argument("--n-head", type=int, default=8)
    ap.add_argument("--d-head", type=int, default=20)
    ap.add_argument("--d-inner", type=int, default=1000)
    ap.add_argument("--dropout", type=float, default=0.25)
    ap.add_argument("--vocab", type=int, default=10000)
    ap.add_argument("--tokens", type=int, default=929589)
    ap.add_argument("--student-steps", type=int, default=5, help="N")
    ap.add_argument("--alpha", type=float, default=0.5)
    ap.add_argument("--T", type=float, default=1.5)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--clip", type=float, default=0.35)
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

    def get_batch(i):
        seq_len = min(args.bptt, train_data.size(0) - 1 - i)
        data = train_data[i : i + seq_len].to(device)
        target = train_data[i + 1 : i + 1 + seq_len].reshape(-1).to(device)
        return data, target

    models, opts = [], []
    for k in range(2):
        torch.manual_seed(args.seed + k)
        m = MemTransformerLM(
            args.vocab, args.n_layer, args.n_head, args.d_model, args.d_head, args.d_inner,
            args.dropout, 0.0, args.mem_len,
        ).to(device)
        m.train()
        models.append(m)
        opts.append(torch.optim.Adam(m.parameters(), lr=args.lr))
    alpha, T = args.alpha, args.T
    teacher_mems = [m.init_mems(args.batch_size, device) for m in models]
    student_mems = [m.init_mems(args.batch_size, device) for m in models]
    current_index = 0
    windows = list(range(0, train_data.size(0) - 1, args.bptt))
    total = args.warmup + args.steps
    total_loss = 0.0
    t_timed = time.time()
    for step in range(total):
        if step == args.warmup:
            if cuda:
                torch.cuda.synchronize()
            t_timed = time.time()
        data, targets = get_batch(windows[step % len(windows)])
        logits = [None, None]
        for k in range(2):
            logits[k], teacher_mems[k] = models[k](data, teacher_mems[k])
        teacher_loss = F.cross_entropy(logits[0], targets) + alpha * kl_div_logits(logits[0], logits[1].detach(), T)
        student_loss = F.cross_entropy(logits[1], targets) + alpha * kl_div_logits(logits[1], logits[0].detach(), T)
        for o in opts:
            o.zero_grad()
        teacher_loss.backward()
        student_loss.backward()
        for m in models:
            torch.nn.utils.clip_grad_norm_(m.parameters(), args.clip)
        for o in opts:
            o.step()
        for _ in range(args.student_steps - 1):
            data, targets = get_batch(current_index)
            current_index = (current_index + args.bptt) % (train_data.size(0) - 1)
            for k in range(2):
                logits[k], student_mems[k] = models[k](data, student_mems[k])
            student_loss = F.cross_entropy(logits[1], targets) + alpha * kl_div_logits(logits[1], logits[0].detach(), T)
            opts[1].zero_grad()
            student_loss.backward()
            torch.nn.utils.clip_grad_norm_(models[1].parameters(), args.clip)
            opts[1].step()
        total_loss += float(teacher_loss)
    if cuda:
        torch.cuda.synchronize()
    t_end = time.time()
    train_s = t_end - t_timed
    out = {
        "program": "txl_lot.py",
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
        "mean_teacher_loss": total_loss / max(total, 1),
    }
    if cuda:
        out["gpu_max_allocated_mb"] = torch.cuda.max_memory_allocated() / 2**20
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    sys.exit(main())
