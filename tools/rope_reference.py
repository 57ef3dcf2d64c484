#!/usr/bin/env python3
"""Rotary inverse frequencies and attention factor in float64, written from Hugging Face transformers'
modeling_rope_utils (_compute_llama3_parameters, _compute_yarn_parameters) with numpy, as an independent reference
for jlora's Rope (engine RopeTest runs it).

usage: rope_reference.py HEAD_DIM THETA llama3 FACTOR ORIGINAL_CTX LOW_FREQ_FACTOR HIGH_FREQ_FACTOR
       rope_reference.py HEAD_DIM THETA yarn FACTOR ORIGINAL_CTX BETA_FAST BETA_SLOW [ATTENTION_FACTOR]
prints one JSON object: {"inv_freq": [...], "attention_factor": x}
"""
import json
import math
import sys

import numpy as np


def default_inv_freq(dim, base):
    return 1.0 / (base ** (np.arange(0, dim, 2, dtype=np.float64) / dim))


def llama3(dim, base, factor, old_context_len, low_freq_factor, high_freq_factor):
    inv_freq = default_inv_freq(dim, base)
    low_freq_wavelen = old_context_len / low_freq_factor
    high_freq_wavelen = old_context_len / high_freq_factor
    wavelen = 2 * math.pi / inv_freq
    scaled = np.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
    smooth = (old_context_len / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
    smoothed = (1 - smooth) * scaled / factor + smooth * scaled
    medium = ~(wavelen < high_freq_wavelen) & ~(wavelen > low_freq_wavelen)
    return np.where(medium, smoothed, scaled), 1.0


def yarn(dim, base, factor, original_ctx, beta_fast, beta_slow, attention_factor=None):
    if attention_factor is None:
        attention_factor = 1.0 if factor <= 1 else 0.1 * math.log(factor) + 1.0

    def correction_dim(rotations):
        return (dim * math.log(original_ctx / (rotations * 2 * math.pi))) / (2 * math.log(base))

    low = max(math.floor(correction_dim(beta_fast)), 0)
    high = min(math.ceil(correction_dim(beta_slow)), dim - 1)
    if low == high:
        high += 0.001
    ramp = np.clip((np.arange(dim // 2, dtype=np.float64) - low) / (high - low), 0, 1)
    pos_freqs = base ** (np.arange(0, dim, 2, dtype=np.float64) / dim)
    extrapolation = 1.0 / pos_freqs
    interpolation = 1.0 / (factor * pos_freqs)
    extrapolation_weight = 1 - ramp
    return interpolation * (1 - extrapolation_weight) + extrapolation * extrapolation_weight, attention_factor


def main(argv):
    dim, base, kind = int(argv[1]), float(argv[2]), argv[3]
    p = [float(a) for a in argv[4:]]
    if kind == "llama3":
        inv, att = llama3(dim, base, p[0], p[1], p[2], p[3])
    elif kind == "yarn":
        inv, att = yarn(dim, base, p[0], p[1], p[2], p[3], p[4] if len(p) > 4 else None)
    else:
        raise SystemExit("unknown scaling " + kind)
    print(json.dumps({"inv_freq": [float(v) for v in inv], "attention_factor": float(att)}))


if __name__ == "__main__":
    main(sys.argv)
