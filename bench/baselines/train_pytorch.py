#!/usr/bin/env python3
"""PyTorch baseline for `bench/run train`: GPT-2 training steps (forward, cross-entropy, backward, clip, AdamW), fp32.

The same nanoGPT-like model as SharpSeek's Gpt2LMHeadModel (pre-LayerNorm blocks, fused c_attn, GELU tanh, learned
positions, ln_f, head tied to wte, no dropout), random tokens, AdamW with nanoGPT's decay/no-decay groups. Thread and
BLAS settings come from the environment (OMP_WAIT_POLICY, LD_LIBRARY_PATH, OPENBLAS_NUM_THREADS) and --threads.
Prints one JSON object on stdout: tokens/s of the timed steps (after warm-up steps).
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
    "config_a": dict(n_layer=6, n_head=6, n_embd=384, vocab_size=50304, block_size=256, batch_size=8),
    "config_b": dict(n_layer=5, n_head=6, n_embd=384, vocab_size=4096, block_size=256, batch_size=8),
}


class Block(nn.Module):
    def __init__(self, c, n_head, block_size):
        super().__init__()
        self.n_head = n_head
        self.register_buffer("mask", torch.tril(torch.ones(block_size, block_size)).view(1, 1, block_size, block_size))
        self.ln_1 = nn.LayerNorm(c, eps=1e-5)
        self.c_attn = nn.Linear(c, 3 * c)
        self.c_proj = nn.Linear(c, c)
        self.ln_2 = nn.LayerNorm(c, eps=1e-5)
        self.c_fc = nn.Linear(c, 4 * c)
        self.mlp_proj = nn.Linear(4 * c, c)

    def forward(self, x):
        b, t, c = x.shape
        h, d = self.n_head, c // self.n_head
        q, k, v = self.c_attn(self.ln_1(x)).split(c, dim=2)
        q, k, v = (z.view(b, t, h, d).transpose(1, 2) for z in (q, k, v))       # (B, H, T, D)
        if hasattr(F, "scaled_dot_product_attention"):                            # PyTorch ≥ 2.0
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:                                                                    # nanoGPT's path on PyTorch 1.x
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(d))              # (B, H, T, T)
            att = att.masked_fill(self.mask[:, :, :t, :t] == 0, float("-inf"))
            y = att.softmax(dim=-1) @ v                                          # (B, H, T, D)
        x = x + self.c_proj(y.transpose(1, 2).reshape(b, t, c))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class Gpt(nn.Module):
    def __init__(self, n_layer, n_head, n_embd, vocab_size, block_size):
        super().__init__()
        self.wte = nn.Embedding(vocab_size, n_embd)
        self.wpe = nn.Embedding(block_size, n_embd)
        self.h = nn.ModuleList(Block(n_embd, n_head, block_size) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(n_embd, eps=1e-5)
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.normal_(p, 0.0, 0.02)

    def forward(self, idx, targets):
        t = idx.shape[1]
        x = self.wte(idx) + self.wpe(torch.arange(t))                          # (B, T, C)
        for block in self.h:
            x = block(x)
        logits = F.linear(self.ln_f(x), self.wte.weight)                       # (B, T, V)
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))


def blas_library():
    with open("/proc/self/maps") as f:
        return sorted({line.split()[-1] for line in f if "blas" in line.lower() and "/" in line})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", choices=CONFIGS, required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1234)
    a = ap.parse_args()

    cfg = CONFIGS[a.config]
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    model = Gpt(cfg["n_layer"], cfg["n_head"], cfg["n_embd"], cfg["vocab_size"], cfg["block_size"]).train()
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=6e-4, betas=(0.9, 0.95))
    b, t, v = cfg["batch_size"], cfg["block_size"], cfg["vocab_size"]
    seconds, losses = [], []
    for step in range(a.warmup + a.steps):
        x = torch.randint(0, v, (b, t))
        y = torch.randint(0, v, (b, t))
        t0 = time.perf_counter()
        loss = model(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.item())
        if step >= a.warmup:
            seconds.append(time.perf_counter() - t0)
    rates = [b * t / s for s in seconds]
    print(json.dumps({
        "side": "pytorch", "config": a.config, "tokens_per_s": b * t * len(seconds) / sum(seconds),
        "best_step_tokens_per_s": max(rates), "step_seconds": seconds, "losses": losses,
        "threads": torch.get_num_threads(), "torch_version": torch.__version__,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "(default)"),
        "openblas_num_threads": os.environ.get("OPENBLAS_NUM_THREADS", "(default)"),
        "blas_libraries": blas_library(), "parameters": sum(p.numel() for p in model.parameters()),
    }))


if __name__ == "__main__":
    main()
