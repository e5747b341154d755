#!/usr/bin/env python3
"""PyTorch baseline for `bench/run decode`: batch-1 greedy decode with a KV cache, fp32, random weights.

A minimal nanoGPT-like GPT-2 (pre-LayerNorm blocks, fused c_attn, GELU tanh, learned positions, ln_f, head tied to
wte) with a preallocated per-layer KV cache: prefill a short prompt, then N greedy steps (argmax only). Thread and
BLAS settings come from the environment (OMP_WAIT_POLICY, LD_LIBRARY_PATH, OPENBLAS_NUM_THREADS) and --threads;
the harness runs this script once per setting and keeps the best. Prints one JSON object on stdout.
"""
import argparse
import json
import math
import os
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

CONFIGS = {
    "config_a": dict(n_layer=6, n_head=6, n_embd=384, vocab_size=50304, n_positions=256),
    "gpt2_124m": dict(n_layer=12, n_head=12, n_embd=768, vocab_size=50257, n_positions=1024),
}


class Block(nn.Module):
    def __init__(self, c, n_head):
        super().__init__()
        self.n_head = n_head
        self.ln_1 = nn.LayerNorm(c, eps=1e-5)
        self.c_attn = nn.Linear(c, 3 * c)
        self.c_proj = nn.Linear(c, c)
        self.ln_2 = nn.LayerNorm(c, eps=1e-5)
        self.c_fc = nn.Linear(c, 4 * c)
        self.mlp_proj = nn.Linear(4 * c, c)

    def forward(self, x, k_cache, v_cache, pos):
        b, t, c = x.shape
        h, d = self.n_head, c // self.n_head
        q, k, v = self.c_attn(self.ln_1(x)).split(c, dim=2)              # 3 × (B, T, C)
        q = q.view(b, t, h, d).transpose(1, 2)                           # (B, H, T, D)
        k_cache[:, :, pos:pos + t] = k.view(b, t, h, d).transpose(1, 2)
        v_cache[:, :, pos:pos + t] = v.view(b, t, h, d).transpose(1, 2)
        keys, values = k_cache[:, :, :pos + t], v_cache[:, :, :pos + t]  # (B, H, S, D)
        att = (q @ keys.transpose(-2, -1)) * (1.0 / math.sqrt(d))        # (B, H, T, S)
        if t > 1:
            mask = torch.ones(t, pos + t, dtype=torch.bool).tril(diagonal=pos)
            att = att.masked_fill(~mask, float("-inf"))
        y = att.softmax(dim=-1) @ values                                 # (B, H, T, D)
        x = x + self.c_proj(y.transpose(1, 2).reshape(b, t, c))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class Gpt(nn.Module):
    def __init__(self, n_layer, n_head, n_embd, vocab_size, n_positions):
        super().__init__()
        self.n_head, self.n_embd, self.n_positions = n_head, n_embd, n_positions
        self.wte = nn.Embedding(vocab_size, n_embd)
        self.wpe = nn.Embedding(n_positions, n_embd)
        self.h = nn.ModuleList(Block(n_embd, n_head) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(n_embd, eps=1e-5)
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.normal_(p, 0.0, 0.02)

    def new_cache(self, capacity):
        d = self.n_embd // self.n_head
        return [(torch.zeros(1, self.n_head, capacity, d), torch.zeros(1, self.n_head, capacity, d)) for _ in self.h]

    def forward(self, idx, cache, pos):
        t = idx.shape[1]
        x = self.wte(idx) + self.wpe(torch.arange(pos, pos + t))         # (B, T, C)
        for block, (k, v) in zip(self.h, cache):
            x = block(x, k, v, pos)
        return F.linear(self.ln_f(x[:, -1:]), self.wte.weight)           # (B, 1, V), head tied to wte


def blas_library():
    """The BLAS shared object mapped into this process (to prove which one LD_LIBRARY_PATH picked)."""
    with open("/proc/self/maps") as f:
        libs = {line.split()[-1] for line in f if "blas" in line.lower() and "/" in line}
    return sorted(libs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", choices=CONFIGS, required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--prompt-len", type=int, default=8)
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1234)
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    model = Gpt(**CONFIGS[a.config]).eval()
    n_params = sum(p.numel() for p in model.parameters())
    prompt = torch.randint(0, CONFIGS[a.config]["vocab_size"], (1, a.prompt_len))
    rates, prompt_rates, tokens = [], [], None
    with torch.inference_mode():
        for r in range(a.repeats + 1):                                  # round 0 warms up (8 tokens)
            n = min(8, a.new_tokens) if r == 0 else a.new_tokens
            cache = model.new_cache(a.prompt_len + n)
            t0 = time.perf_counter()
            logits = model(prompt, cache, 0)
            nxt = logits[:, -1].argmax(-1, keepdim=True)                 # (1, 1)
            prompt_rates.append(a.prompt_len / (time.perf_counter() - t0))
            out = []
            t0 = time.perf_counter()
            for step in range(n):
                out.append(nxt)
                logits = model(nxt, cache, a.prompt_len + step)
                nxt = logits[:, -1].argmax(-1, keepdim=True)
            rates.append(n / (time.perf_counter() - t0))
            tokens = torch.cat(out, 1)[0, :8].tolist()
    print(json.dumps({
        "config": a.config, "tokens_per_s": max(rates[1:]), "all_tokens_per_s": rates[1:],
        "prompt_tokens_per_s": max(prompt_rates[1:]),
        "threads": torch.get_num_threads(), "torch_version": torch.__version__,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "(default)"),
        "openblas_num_threads": os.environ.get("OPENBLAS_NUM_THREADS", "(default)"),
        "blas_libraries": blas_library(), "parameters": n_params,
        "prompt_len": a.prompt_len, "new_tokens": a.new_tokens, "first_tokens": tokens,
    }))


if __name__ == "__main__":
    main()
