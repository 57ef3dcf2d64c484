#!/usr/bin/python3
"""PyTorch CPU baseline for jlora's TrainBench: LoRA training throughput on a random-initialised Llama.

Same work as dev.jlora.bench.TrainBench: a Llama of the stories15M (or 42M/110M) shape with frozen fp32 weights,
LoRA (rank r, alpha 2r, no dropout, B initialised to zero) on q, k, v, o of every block, a batch of B x T random
tokens, one step = forward + cross-entropy + backward + global-norm clipping (1.0) + AdamW. Warm-up steps run
first; the median of the measured steps is reported with the peak RSS of this process (getrusage ru_maxrss).

    OPENBLAS_CORETYPE=SkylakeX /usr/bin/python3 bench/scripts/train_torch.py [--shape 15M] [--threads 2] \
        [--batch 4] [--seq 256] [--rank 8] [--steps 5] [--warmup 2]

OPENBLAS_CORETYPE is set here as scripts/bench.sh does (SkylakeX with AVX-512F, Haswell with AVX2) unless already
set, and must be in the environment before torch loads its BLAS, so it is set before the import.
"""
import argparse
import math
import os
import platform
import resource
import statistics
import time

if "OPENBLAS_CORETYPE" not in os.environ:
    with open("/proc/cpuinfo") as f:
        flags = next((l for l in f if l.startswith("flags")), "").split()
    if "avx512f" in flags:
        os.environ["OPENBLAS_CORETYPE"] = "SkylakeX"
    elif "avx2" in flags:
        os.environ["OPENBLAS_CORETYPE"] = "Haswell"

import torch  # noqa: E402  (after OPENBLAS_CORETYPE on purpose)
import torch.nn.functional as F  # noqa: E402

SHAPES = {  # dim, hidden, layers, heads, vocab (as bench/.../BenchModels.java)
    "15M": (288, 768, 6, 6, 32000),
    "42M": (512, 1376, 8, 8, 32000),
    "110M": (768, 2048, 12, 12, 32000),
}


class LoraLinear(torch.nn.Module):
    """y = x W^T + (alpha/r) (x A^T) B^T with W frozen (requires_grad False)."""

    def __init__(self, out_f, in_f, rank, alpha):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(out_f, in_f) * 0.02, requires_grad=False)
        self.a = torch.nn.Parameter(torch.randn(rank, in_f) / math.sqrt(in_f))
        self.b = torch.nn.Parameter(torch.zeros(out_f, rank))
        self.scale = alpha / rank

    def forward(self, x):
        return F.linear(x, self.weight) + F.linear(F.linear(x, self.a), self.b) * self.scale


def frozen(out_f, in_f):
    return torch.nn.Parameter(torch.randn(out_f, in_f) * 0.02, requires_grad=False)


class RMSNorm(torch.nn.Module):
    def __init__(self, dim, eps=1e-5):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(dim), requires_grad=False)
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class Block(torch.nn.Module):
    def __init__(self, dim, hidden, heads, rank):
        super().__init__()
        self.heads = heads
        self.attn_norm, self.ffn_norm = RMSNorm(dim), RMSNorm(dim)
        self.q, self.k, self.v, self.o = (LoraLinear(dim, dim, rank, 2.0 * rank) for _ in range(4))
        self.w1, self.w3, self.w2 = frozen(hidden, dim), frozen(hidden, dim), frozen(dim, hidden)

    def forward(self, x, cos, sin, mask):
        Bsz, T, C = x.shape
        hs = C // self.heads
        h = self.attn_norm(x)

        def heads(t):
            return t.view(Bsz, T, self.heads, hs).transpose(1, 2)

        q, k, v = heads(self.q(h)), heads(self.k(h)), heads(self.v(h))
        q, k = rope(q, cos, sin), rope(k, cos, sin)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs)) + mask
        y = torch.softmax(att, dim=-1) @ v
        x = x + self.o(y.transpose(1, 2).reshape(Bsz, T, C))
        h = self.ffn_norm(x)
        return x + F.linear(F.silu(F.linear(h, self.w1)) * F.linear(h, self.w3), self.w2)


def rope(x, cos, sin):
    """Rotates consecutive pairs (x[2i], x[2i+1]) by position-dependent angles (Llama's interleaved layout)."""
    x0, x1 = x[..., 0::2], x[..., 1::2]
    return torch.stack((x0 * cos - x1 * sin, x0 * sin + x1 * cos), dim=-1).flatten(-2)


class Llama(torch.nn.Module):
    def __init__(self, dim, hidden, layers, heads, vocab, rank):
        super().__init__()
        self.emb = frozen(vocab, dim)
        self.blocks = torch.nn.ModuleList(Block(dim, hidden, heads, rank) for _ in range(layers))
        self.norm = RMSNorm(dim)
        self.out = frozen(vocab, dim)
        self.heads = heads

    def forward(self, tokens, targets):
        Bsz, T = tokens.shape
        hs = self.emb.shape[1] // self.heads
        freqs = 1.0 / (10000.0 ** (torch.arange(0, hs, 2).float() / hs))
        ang = torch.outer(torch.arange(T).float(), freqs)
        cos, sin = ang.cos(), ang.sin()
        mask = torch.full((T, T), float("-inf")).triu(1)
        x = F.embedding(tokens, self.emb)
        for b in self.blocks:
            x = b(x, cos, sin, mask)
        logits = F.linear(self.norm(x), self.out)
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--shape", default="15M", choices=SHAPES)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--seq", type=int, default=256)
    p.add_argument("--rank", type=int, default=8)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(42)
    dim, hidden, layers, heads, vocab = SHAPES[a.shape]
    model = Llama(dim, hidden, layers, heads, vocab, a.rank)
    params = [q for q in model.parameters() if q.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    g = torch.Generator().manual_seed(3)
    tokens = torch.randint(3, vocab, (a.batch, a.seq), generator=g)
    targets = torch.randint(3, vocab, (a.batch, a.seq), generator=g)
    secs, cpu = [], []
    for i in range(-a.warmup, a.steps):
        t0, c0 = time.perf_counter(), time.process_time()
        opt.zero_grad(set_to_none=True)
        loss = model(tokens, targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        if i >= 0:
            secs.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    med = statistics.median(secs)
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, OPENBLAS_CORETYPE="
          f"{os.environ.get('OPENBLAS_CORETYPE', '<unset>')}, {platform.processor() or platform.machine()}")
    print(f"stories{a.shape:<6} torch fp32 base  B={a.batch} T={a.seq} LoRA r={a.rank} on q,k,v,o: "
          f"{a.batch * a.seq / med:8.0f} tokens/s  ({med:.3f} s/step, {statistics.median(cpu):.3f} CPU s/step, "
          f"best {min(secs):.3f} s, {sum(q.numel() for q in params):,} trainable, "
          f"loss {loss.item():.4f}, peak RSS {rss_mib:,.0f} MiB, load {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
