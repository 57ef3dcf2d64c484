#!/usr/bin/env python3
"""PyTorch float64 reference for jlora's LoRA training path.

A hand-written Llama forward (as Hugging Face transformers' LlamaForCausalLM computes it: RMSNorm, rotate-half
RoPE, GQA causal attention, SwiGLU MLP) over a Hugging Face model directory, with a PEFT LoRA adapter
(y = x W^T + s (x A^T) B^T, s = lora_alpha / r or lora_alpha / sqrt(r) with use_rslora). It prints, as one JSON
object, the mean next-token NLL of the given token ids and the losses of N optimizer steps on the LoRA parameters
with torch.optim.SGD and torch.optim.AdamW, each run starting from the adapter as saved.

Second mode (--gguf-grad-norms FILE), the llm.c treatment for src/test/java/dev/jlora/e2e/Stories260kTrainingTest:
reads an all-F32 llama GGUF (stories260K.gguf), puts LoRA (r=4, alpha=8) with deterministic A/B on all seven
projections of every block, runs the same forward on one batch of two sequences (some targets ignored), and prints
the mean cross-entropy and the Frobenius norm of every LoRA gradient as Java constants for that test.

Only the standard library, numpy and torch are used: safetensors and GGUF files are parsed here.

usage: torch_reference.py --model DIR --adapter DIR --tokens 1,403,407,... [--steps N] [--lr LR]
       [--momentum M] [--weight-decay WD] [--adam-lr LR] [--betas B1,B2] [--eps EPS] [--adam-weight-decay WD]
       torch_reference.py --gguf-grad-norms ../shared/models/stories260K.gguf
Output: {"loss": L0, "sgd": [L0, L1, ..., LN], "adamw": [L0, ..., LN]}, L_k being the loss before update k+1.
"""
import argparse
import json
import math
import re
import struct
import sys

import numpy as np
import torch

DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64}


def read_safetensors(path):
    """Every tensor of a safetensors file as a float64 torch tensor."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError(f"{path}: too short for a safetensors header")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > len(raw) - 8:
        raise ValueError(f"{path}: header of {n} bytes but the file has {len(raw)}")
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    data = raw[8 + n:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        shape = info["shape"]
        dt = info["dtype"]
        buf = data[start:end]
        if dt == "BF16":
            u16 = np.frombuffer(buf, dtype="<u2").astype(np.uint32) << 16
            arr = u16.view(np.float32)
        elif dt in DTYPES:
            arr = np.frombuffer(buf, dtype=np.dtype(DTYPES[dt]).newbyteorder("<"))
        else:
            raise ValueError(f"{path}: tensor {name} has dtype {dt}; expected F32, F16, BF16 or F64")
        out[name] = torch.from_numpy(arr.astype(np.float64).reshape(shape).copy())
    return out


def load_model(model_dir):
    with open(f"{model_dir}/config.json") as f:
        cfg = json.load(f)
    if cfg.get("rope_scaling"):
        raise ValueError(f"{model_dir}/config.json: rope_scaling is not supported by this reference")
    w = read_safetensors(f"{model_dir}/model.safetensors")
    return cfg, w


def load_adapter(adapter_dir):
    with open(f"{adapter_dir}/adapter_config.json") as f:
        conf = json.load(f)
    t = read_safetensors(f"{adapter_dir}/adapter_model.safetensors")
    key = re.compile(r"^(?:.*\.)?layers\.(\d+)\.(?:self_attn|mlp)\.([a-z_]+)\.lora_([AB])(?:\.default)?\.weight$")
    a, b = {}, {}
    for name, v in t.items():
        m = key.match(name)
        if not m:
            raise ValueError(f"{adapter_dir}: unexpected tensor {name}")
        (a if m.group(3) == "A" else b)[(int(m.group(1)), m.group(2))] = v
    r = conf["r"]
    alpha = float(conf["lora_alpha"])
    scale = alpha / math.sqrt(r) if conf.get("use_rslora") else alpha / r
    return scale, a, b


def read_gguf(path):
    """Metadata and every tensor of an all-F32 GGUF file (float64 torch tensors, ggml's ne reversed)."""
    with open(path, "rb") as f:
        data = f.read()
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
        raise ValueError(f"{path}: metadata value type {t} is not a GGUF type (0..12)")

    if data[:4] != b"GGUF":
        raise ValueError(f"{path}: magic {data[:4]!r}, expected b'GGUF'")
    off = 4
    take("I")  # version
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
        if typ != 0:
            raise ValueError(f"{path}: tensor {name} has ggml type {typ}; this reference reads only F32 (0)")
        n = int(np.prod(dims))
        arr = np.frombuffer(data, dtype="<f4", count=n, offset=start + toff).astype(np.float64)
        tensors[name] = torch.tensor(arr.reshape(list(reversed(dims))))  # ggml ne[0] is the contiguous dimension
    return meta, tensors


GGUF_PROJ = {"q_proj": ("self_attn", "attn_q"), "k_proj": ("self_attn", "attn_k"), "v_proj": ("self_attn", "attn_v"),
             "o_proj": ("self_attn", "attn_output"), "gate_proj": ("mlp", "ffn_gate"), "up_proj": ("mlp", "ffn_up"),
             "down_proj": ("mlp", "ffn_down")}


def unpermute_rows(m, n_head):
    """Inverse of llama.cpp's convert permutation of Q/K rows: GGUF rotates adjacent pairs (2i, 2i+1) of each head,
    Hugging Face rotates halves (i, i + hs/2); un-permuting the output rows lets the rotate-half forward serve both."""
    hs = m.shape[0] // n_head
    return m.reshape(n_head, hs // 2, 2, *m.shape[1:]).transpose(1, 2).reshape(m.shape)


def gguf_as_hf(meta, t):
    """A llama GGUF's hyper-parameters and tensors under Hugging Face's config keys and tensor names."""
    H = meta["llama.attention.head_count"]
    cfg = {"hidden_size": meta["llama.embedding_length"], "num_attention_heads": H,
           "num_key_value_heads": meta.get("llama.attention.head_count_kv", H),
           "num_hidden_layers": meta["llama.block_count"],
           "rms_norm_eps": meta["llama.attention.layer_norm_rms_epsilon"],
           "rope_theta": meta.get("llama.rope.freq_base", 10000.0)}
    w = {"model.embed_tokens.weight": t["token_embd.weight"], "model.norm.weight": t["output_norm.weight"]}
    if "output.weight" in t:
        w["lm_head.weight"] = t["output.weight"]
    for l in range(cfg["num_hidden_layers"]):
        w[f"model.layers.{l}.input_layernorm.weight"] = t[f"blk.{l}.attn_norm.weight"]
        w[f"model.layers.{l}.post_attention_layernorm.weight"] = t[f"blk.{l}.ffn_norm.weight"]
        for module, (block, stem) in GGUF_PROJ.items():
            m = t[f"blk.{l}.{stem}.weight"]
            if module == "q_proj":
                m = unpermute_rows(m, H)
            elif module == "k_proj":
                m = unpermute_rows(m, cfg["num_key_value_heads"])
            w[f"model.layers.{l}.{block}.{module}.weight"] = m
    return cfg, w


def rms_norm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def forward_loss(cfg, w, scale, lora_a, lora_b, tokens, targets=None):
    """Mean cross-entropy of tokens[1:] given tokens[:-1]; or, with targets, of the batch targets [B, T] (-100 is
    ignored) given the batch tokens [B, T]."""
    C = cfg["hidden_size"]
    H = cfg["num_attention_heads"]
    KVH = cfg.get("num_key_value_heads", H)
    hs = cfg.get("head_dim") or C // H
    L = cfg["num_hidden_layers"]
    eps = cfg["rms_norm_eps"]
    theta = cfg.get("rope_theta", 10000.0)
    if targets is None:
        inp, tgt = torch.tensor([tokens[:-1]]), torch.tensor([tokens[1:]])
    else:
        inp, tgt = torch.tensor(tokens), torch.tensor(targets)
    B, T = inp.shape
    x = w["model.embed_tokens.weight"][inp]
    inv_freq = 1.0 / (theta ** (torch.arange(0, hs, 2, dtype=torch.float64) / hs))
    freqs = torch.outer(torch.arange(T, dtype=torch.float64), inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()
    mask = torch.full((T, T), float("-inf"), dtype=torch.float64).triu(1)

    def linear(l, module, block, xin):
        y = xin @ w[f"model.layers.{l}.{block}.{module}.weight"].T
        if (l, module) in lora_a:
            y = y + scale * ((xin @ lora_a[(l, module)].T) @ lora_b[(l, module)].T)
        return y

    for l in range(L):
        n1 = rms_norm(x, w[f"model.layers.{l}.input_layernorm.weight"], eps)
        q = linear(l, "q_proj", "self_attn", n1).view(B, T, H, hs).transpose(1, 2)
        k = linear(l, "k_proj", "self_attn", n1).view(B, T, KVH, hs).transpose(1, 2)
        v = linear(l, "v_proj", "self_attn", n1).view(B, T, KVH, hs).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(H // KVH, dim=1)
        v = v.repeat_interleave(H // KVH, dim=1)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hs) + mask, dim=-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, H * hs)
        x = x + linear(l, "o_proj", "self_attn", y)
        n2 = rms_norm(x, w[f"model.layers.{l}.post_attention_layernorm.weight"], eps)
        g = linear(l, "gate_proj", "mlp", n2)
        u = linear(l, "up_proj", "mlp", n2)
        x = x + linear(l, "down_proj", "mlp", torch.nn.functional.silu(g) * u)
    x = rms_norm(x, w["model.norm.weight"], eps)
    head = w.get("lm_head.weight", w["model.embed_tokens.weight"])
    logits = x @ head.T
    return torch.nn.functional.cross_entropy(logits.reshape(B * T, -1), tgt.reshape(-1), ignore_index=-100)


def train(cfg, w, scale, a0, b0, tokens, steps, make_opt):
    a = {k: v.clone().requires_grad_(True) for k, v in a0.items()}
    b = {k: v.clone().requires_grad_(True) for k, v in b0.items()}
    params = [p for k in sorted(a) for p in (a[k], b[k])]
    opt = make_opt(params)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = forward_loss(cfg, w, scale, a, b, tokens)
        losses.append(loss.item())
        loss.backward()
        opt.step()
    with torch.no_grad():
        losses.append(forward_loss(cfg, w, scale, a, b, tokens).item())
    return losses


# Stories260kTrainingTest's batch: the golden prompt ids and the start of the golden continuation
# (shared/models/README.md), with the targets at (sequence, position) in IGNORED set to -100.
GRAD_SEQS = [[1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421],
             [1, 426, 338, 401, 396, 267, 337, 410, 408, 419, 292, 411, 322]]
GRAD_IGNORED = {(0, 0), (0, 3), (1, 5)}
GRAD_RANK, GRAD_ALPHA = 4, 8.0


def gguf_grad_norms(path):
    """Prints the loss and per-module LoRA gradient norms of the test batch as Java constants."""
    meta, t = read_gguf(path)
    cfg, w = gguf_as_hf(meta, t)
    H, KVH = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    r = GRAD_RANK
    a, b = {}, {}
    for l in range(cfg["num_hidden_layers"]):
        for k, (module, (block, _)) in enumerate(GGUF_PROJ.items()):
            OC, IC = w[f"model.layers.{l}.{block}.{module}.weight"].shape
            # deterministic values, indexed as in the test (flat j*IC + i for A, o*r + j for B, GGUF row order)
            av = torch.tensor([[0.05 * math.sin(1 + 0.37 * (j * IC + i) + 1.3 * l + 0.7 * k) for i in range(IC)]
                               for j in range(r)])
            bv = torch.tensor([[0.05 * math.cos(2 + 0.23 * (o * r + j) + 0.9 * l + 1.1 * k) for j in range(r)]
                               for o in range(OC)])
            # B's rows are in GGUF order like the weight's; permuting rows leaves ‖dB‖ unchanged
            if module == "q_proj":
                bv = unpermute_rows(bv, H)
            elif module == "k_proj":
                bv = unpermute_rows(bv, KVH)
            a[(l, module)] = av.requires_grad_(True)
            b[(l, module)] = bv.requires_grad_(True)
    T = len(GRAD_SEQS[0]) - 1
    inputs = [s[:T] for s in GRAD_SEQS]
    targets = [[-100 if (i, p) in GRAD_IGNORED else s[p + 1] for p in range(T)] for i, s in enumerate(GRAD_SEQS)]
    loss = forward_loss(cfg, w, GRAD_ALPHA / r, a, b, inputs, targets)
    loss.backward()
    print("    static final double LOSS = %.12f;" % loss.item())
    print("    /** ‖dA‖, ‖dB‖ per layer, in target order q, k, v, o, gate, up, down. */")
    print("    static final double[][][] GRAD_NORMS = {")
    for l in range(cfg["num_hidden_layers"]):
        row = ", ".join("{%.10e, %.10e}" % (a[(l, m)].grad.norm().item(), b[(l, m)].grad.norm().item())
                        for m in GGUF_PROJ)
        print("        {%s}," % row)
    print("    };")


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--gguf-grad-norms", metavar="FILE",
                   help="print Stories260kTrainingTest's loss and LoRA gradient norms for this all-F32 GGUF instead")
    p.add_argument("--model")
    p.add_argument("--adapter")
    p.add_argument("--tokens", help="comma-separated token ids, BOS included")
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--momentum", type=float, default=0.0)
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--adam-lr", type=float, default=0.01)
    p.add_argument("--betas", default="0.9,0.999")
    p.add_argument("--eps", type=float, default=1e-8)
    p.add_argument("--adam-weight-decay", type=float, default=0.01)
    args = p.parse_args(argv)
    torch.set_default_dtype(torch.float64)
    if args.gguf_grad_norms:
        gguf_grad_norms(args.gguf_grad_norms)
        return
    if not (args.model and args.adapter and args.tokens):
        p.error("--model, --adapter and --tokens are required (unless --gguf-grad-norms FILE)")
    cfg, w = load_model(args.model)
    scale, a, b = load_adapter(args.adapter)
    tokens = [int(t) for t in args.tokens.split(",")]
    with torch.no_grad():
        loss = forward_loss(cfg, w, scale, a, b, tokens).item()
    b1, b2 = (float(x) for x in args.betas.split(","))
    sgd = train(cfg, w, scale, a, b, tokens, args.steps,
                lambda ps: torch.optim.SGD(ps, lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay))
    adamw = train(cfg, w, scale, a, b, tokens, args.steps,
                  lambda ps: torch.optim.AdamW(ps, lr=args.adam_lr, betas=(b1, b2), eps=args.eps,
                                               weight_decay=args.adam_weight_decay))
    print(json.dumps({"loss": loss, "sgd": sgd, "adamw": adamw}))


if __name__ == "__main__":
    main(sys.argv[1:])
