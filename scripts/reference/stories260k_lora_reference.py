#!/usr/bin/env python3
"""Float64 PyTorch reference for the LoRA training graph on stories260K.gguf (the llm.c treatment).

Reads the all-F32 GGUF directly, builds the Llama decoder in float64 with LoRA (r=4, alpha=8) on all seven
projections of every block, with deterministic A/B values, runs one batch of two sequences, and prints the mean
cross-entropy and the Frobenius norms of every LoRA gradient as Java constants for
src/test/java/dev/jlora/e2e/Stories260kTrainingTest.java.

Usage: /usr/bin/python3 scripts/reference/stories260k_lora_reference.py ../shared/models/stories260K.gguf
Independent of jlora's code: written from the Llama architecture (RMSNorm, RoPE on adjacent pairs as in llama.cpp's
permuted GGUF rows, GQA causal attention, SwiGLU) and torch autograd.
"""
import math
import struct
import sys

import numpy as np
import torch

torch.set_default_dtype(torch.float64)

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
GGUF_STEM = ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"]
RANK, ALPHA = 4, 8.0
# the golden prompt ids and the start of the golden continuation (shared/models/README.md)
SEQ0 = [1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421]
SEQ1 = [1, 426, 338, 401, 396, 267, 337, 410, 408, 419, 292, 411, 322]
T = 12
IGNORED = {(0, 0), (0, 3), (1, 5)}  # (sequence, position) whose target is -100


def read_gguf(path):
    data = open(path, "rb").read()
    off = 0

    def take(fmt):
        nonlocal off
        v = struct.unpack_from("<" + fmt, data, off)
        off += struct.calcsize("<" + fmt)
        return v[0]

    def string():
        nonlocal off
        n = take("Q")
        s = data[off:off + n].decode("utf-8")
        off += n
        return s

    scalar = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}

    def value(t):
        if t in scalar:
            return take(scalar[t])
        if t == 8:
            return string()
        if t == 9:
            it, n = take("I"), take("Q")
            return [value(it) for _ in range(n)]
        raise ValueError("gguf type %d" % t)

    assert data[:4] == b"GGUF"
    off = 4
    take("I")
    n_tensors, n_kv = take("Q"), take("Q")
    meta = {}
    for _ in range(n_kv):
        k = string()
        meta[k] = value(take("I"))
    infos = []
    for _ in range(n_tensors):
        name = string()
        nd = take("I")
        dims = [take("Q") for _ in range(nd)]
        typ, toff = take("I"), take("Q")
        infos.append((name, dims, typ, toff))
    align = meta.get("general.alignment", 32)
    start = (off + align - 1) // align * align
    tensors = {}
    for name, dims, typ, toff in infos:
        assert typ == 0, name + " is not F32"
        n = int(np.prod(dims))
        arr = np.frombuffer(data, dtype="<f4", count=n, offset=start + toff).astype(np.float64)
        shape = list(reversed(dims))  # ggml ne[0] is the contiguous (column) dimension
        tensors[name] = torch.tensor(arr.reshape(shape))
    return meta, tensors


def lora_init(layer, k, OC, IC):
    a = torch.tensor([[0.05 * math.sin(1 + 0.37 * (j * IC + i) + 1.3 * layer + 0.7 * k) for i in range(IC)]
                      for j in range(RANK)], requires_grad=True)
    b = torch.tensor([[0.05 * math.cos(2 + 0.23 * (o * RANK + j) + 0.9 * layer + 1.1 * k) for j in range(RANK)]
                      for o in range(OC)], requires_grad=True)
    return a, b


def main(path):
    meta, w = read_gguf(path)
    L = meta["llama.block_count"]
    H = meta["llama.attention.head_count"]
    KVH = meta["llama.attention.head_count_kv"]
    C = meta["llama.embedding_length"]
    eps = meta["llama.attention.layer_norm_rms_epsilon"]
    theta = meta.get("llama.rope.freq_base", 10000.0)
    hs = C // H
    s = ALPHA / RANK

    lora = {}
    for l in range(L):
        for k, stem in enumerate(GGUF_STEM):
            W = w["blk.%d.%s.weight" % (l, stem)]
            lora[(l, k)] = lora_init(l, k, W.shape[0], W.shape[1])

    def linear(x, l, k):
        W = w["blk.%d.%s.weight" % (l, GGUF_STEM[k])]
        a, b = lora[(l, k)]
        return x @ W.T + s * (x @ a.T) @ b.T

    def rms(x, g):
        return x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps) * g

    pos = torch.arange(T, dtype=torch.float64)
    freq = theta ** (-torch.arange(0, hs, 2, dtype=torch.float64) / hs)
    ang = pos[:, None] * freq[None, :]  # [T, hs/2]
    cos, sin = torch.cos(ang), torch.sin(ang)

    def rope(x, nh):  # x [B, T, nh*hs]; adjacent pairs (2i, 2i+1)
        Bn = x.shape[0]
        x = x.view(Bn, T, nh, hs // 2, 2)
        x0, x1 = x[..., 0], x[..., 1]
        c, sn = cos[None, :, None, :], sin[None, :, None, :]
        return torch.stack([x0 * c - x1 * sn, x0 * sn + x1 * c], dim=-1).view(Bn, T, nh * hs)

    seqs = torch.tensor([SEQ0, SEQ1])
    inputs, targets = seqs[:, :T], seqs[:, 1:T + 1].clone()
    for (b_, t_) in IGNORED:
        targets[b_, t_] = -100
    x = w["token_embd.weight"][inputs]
    mask = torch.full((T, T), float("-inf")).triu(1)
    for l in range(L):
        n1 = rms(x, w["blk.%d.attn_norm.weight" % l])
        q = rope(linear(n1, l, 0), H).view(2, T, H, hs).transpose(1, 2)
        kk = rope(linear(n1, l, 1), KVH).view(2, T, KVH, hs).transpose(1, 2)
        v = linear(n1, l, 2).view(2, T, KVH, hs).transpose(1, 2)
        kk = kk.repeat_interleave(H // KVH, dim=1)
        v = v.repeat_interleave(H // KVH, dim=1)
        att = torch.softmax(q @ kk.transpose(-1, -2) / math.sqrt(hs) + mask, dim=-1)
        y = (att @ v).transpose(1, 2).reshape(2, T, C)
        x = x + linear(y, l, 3)
        n2 = rms(x, w["blk.%d.ffn_norm.weight" % l])
        x = x + linear(torch.nn.functional.silu(linear(n2, l, 4)) * linear(n2, l, 5), l, 6)
    logits = rms(x, w["output_norm.weight"]) @ w["output.weight"].T
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),
                                             ignore_index=-100)
    loss.backward()
    print("    static final double LOSS = %.12f;" % loss.item())
    print("    /** ‖dA‖, ‖dB‖ per layer, in target order q, k, v, o, gate, up, down. */")
    print("    static final double[][][] GRAD_NORMS = {")
    for l in range(L):
        row = ", ".join("{%.10e, %.10e}" % (lora[(l, k)][0].grad.norm().item(), lora[(l, k)][1].grad.norm().item())
                        for k in range(len(TARGETS)))
        print("        {%s}," % row)
    print("    };")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/models/stories260K.gguf")
