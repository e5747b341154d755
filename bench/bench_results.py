"""Helpers shared by the pipeline result collectors (alignment_results.py, r1_results.py): JSON files, a run's
metrics.jsonl with named metrics flattened, and the CPU the run measured on."""
import json, os, re


def load(path):
    return json.load(open(path)) if os.path.exists(path) else None


def run_metrics(out, run):
    """The records of out/run/metrics.jsonl, each with its named metrics flattened into it."""
    path = os.path.join(out, run, "metrics.jsonl")
    rows = [json.loads(l) for l in open(path)] if os.path.exists(path) else []
    return [{**{k: v for k, v in r.items() if k != "metrics"}, **(r.get("metrics") or {})} for r in rows]


def cpu():
    """The CPU model and the SIMD features that decide the fast paths (bf16 matmuls need AVX512_BF16 or AMX)."""
    text = open("/proc/cpuinfo").read() if os.path.exists("/proc/cpuinfo") else ""
    model = re.search(r"model name\s*:\s*(.*)", text)
    flags = set((re.search(r"flags\s*:\s*(.*)", text) or re.search("()", "")).group(1).split())
    return {"model": model.group(1) if model else None,
            "isa": [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in flags]}
