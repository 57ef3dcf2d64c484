#!/usr/bin/env python3
"""PyTorch float64 reference for jlora's LoRA training path.

A hand-written Llama forward (as Hugging Face transformers' LlamaForCausalLM computes it: RMSNorm, rotate-half
RoPE, GQA causal attention, SwiGLU MLP) over a Hugging Face model directory, with a PEFT LoRA adapter
(y = x W^T + s (x A^T) B^T, s = lora_alpha / r or lora_alpha / sqrt(r) with use_rslora). It prints, as one JSON
object, the mean next-token NLL of the given token ids and the losses of N optimizer steps on the LoRA parameters
with torch.optim.SGD and torch.optim.AdamW, each run starting from the adapter as saved.

Only the standard library, numpy and torch are used: safetensors files are parsed here (8-byte little-endian
header length, JSON header, raw little-endian tensors).

usage: torch_reference.py --model DIR --adapter DIR --tokens 1,403,407,... [--steps N] [--lr LR]
       [--momentum M] [--weight-decay WD] [--adam-lr LR] [--betas B1,B2] [--eps EPS] [--adam-weight-decay WD]
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


def rms_norm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def forward_loss(cfg, w, scale, lora_a, lora_b, tokens):
    """Mean cross-entropy of tokens[1:] given tokens[:-1]."""
    C = cfg["hidden_size"]
    H = cfg["num_attention_heads"]
    KVH = cfg.get("num_key_value_heads", H)
    hs = cfg.get("head_dim") or C // H
    L = cfg["num_hidden_layers"]
    eps = cfg["rms_norm_eps"]
    theta = cfg.get("rope_theta", 10000.0)
    inp = torch.tensor(tokens[:-1])
    tgt = torch.tensor(tokens[1:])
    T = inp.shape[0]
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
        q = linear(l, "q_proj", "self_attn", n1).view(T, H, hs).transpose(0, 1)
        k = linear(l, "k_proj", "self_attn", n1).view(T, KVH, hs).transpose(0, 1)
        v = linear(l, "v_proj", "self_attn", n1).view(T, KVH, hs).transpose(0, 1)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(H // KVH, dim=0)
        v = v.repeat_interleave(H // KVH, dim=0)
        att = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(hs) + mask, dim=-1)
        y = (att @ v).transpose(0, 1).reshape(T, H * hs)
        x = x + linear(l, "o_proj", "self_attn", y)
        n2 = rms_norm(x, w[f"model.layers.{l}.post_attention_layernorm.weight"], eps)
        g = linear(l, "gate_proj", "mlp", n2)
        u = linear(l, "up_proj", "mlp", n2)
        x = x + linear(l, "down_proj", "mlp", torch.nn.functional.silu(g) * u)
    x = rms_norm(x, w["model.norm.weight"], eps)
    head = w.get("lm_head.weight", w["model.embed_tokens.weight"])
    logits = x @ head.T
    return torch.nn.functional.cross_entropy(logits, tgt)


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


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True)
    p.add_argument("--adapter", required=True)
    p.add_argument("--tokens", required=True, help="comma-separated token ids, BOS included")
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
