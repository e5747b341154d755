#!/usr/bin/env python3
"""Collects bench/distill.sh's outputs (each run's metrics.jsonl, eval --json files, data traces --stats, stage-times.tsv)
into one results JSON; the fields are listed in bench/distill.sh's header."""
import json, os, statistics, sys
out, results, command, start, end, load_start, load_end, quick, trace_teacher, seeds, settings = sys.argv[1:]
seeds = [int(s) for s in seeds.split()]
names = "examples t1_steps t2_steps student_steps sft_steps trace_prompts samples_per_prompt eval_count temperature alpha top_k levels".split()
settings = dict(zip(names, settings.split()))

def final_val_loss(run):
    rows = [json.loads(l) for l in open(os.path.join(out, run, "metrics.jsonl"))]
    vals = [r["val_loss"] for r in rows if r.get("val_loss") is not None]
    return vals[-1]

def summary(values):
    return {"values": [round(v, 4) for v in values], "mean": round(statistics.mean(values), 4),
            "std": round(statistics.stdev(values), 4) if len(values) > 1 else 0.0}

def accuracy(name):
    path = os.path.join(out, name)
    return json.load(open(path))["accuracy"] if os.path.exists(path) else None

def summary_or_none(values):
    return None if None in values else summary(values)

a = {"baseline": summary([final_val_loss(f"s-base-{s}") for s in seeds]),
     "distill_t1": summary([final_val_loss(f"s-t1-{s}") for s in seeds]),
     "distill_t1_tau_ablation": summary([final_val_loss(f"s-t1tau2-{s}") for s in seeds])}
b = {"distill_t1_t2": summary([final_val_loss(f"s-t1t2-{s}") for s in seeds]),
     "distill_t1_cache": summary([final_val_loss(f"s-cache-{s}") for s in seeds])}
c = {"sft_answers": summary_or_none([accuracy(f"eval-sft-answers-{s}.json") for s in seeds]),
     "sft_traces": summary_or_none([accuracy(f"eval-sft-traces-{s}.json") for s in seeds])}
if c["sft_traces"] is None:
    c["sft_traces_skipped"] = "the teacher wrote no accepted solution (see traces.sample_accuracy)"
def deltas(run, base="s-base"):
    """Per seed: the arm's final val loss minus the baseline's (same seed, same held-out windows); negative = better."""
    return summary([final_val_loss(f"{run}-{s}") - final_val_loss(f"{base}-{s}") for s in seeds])

paired = {"distill_t1": deltas("s-t1"), "distill_t1_tau_ablation": deltas("s-t1tau2"),
          "distill_t1_t2": deltas("s-t1t2"), "distill_t1_cache": deltas("s-cache"),
          "t1_t2_minus_t1": deltas("s-t1t2", "s-t1")}
traces = json.load(open(os.path.join(out, "traces.json")))
stages = dict(l.rstrip("\n").split("\t") for l in open(os.path.join(out, "stage-times.tsv")))
result = {
    "command": command, "quick": quick == "1", "wall_minutes": round((float(end) - float(start)) / 60, 2),
    "load_start": load_start, "load_end": load_end, "seeds": seeds, "settings": settings,
    "teachers": {"t1": {"shape": "gpt2 4x128", "steps": int(settings["t1_steps"]), "val_loss": round(final_val_loss("t1"), 4)},
                 "t2": {"shape": "gpt2 3x96", "steps": int(settings["t2_steps"]), "val_loss": round(final_val_loss("t2"), 4)}},
    "student": "gpt2 2x48, %s steps" % settings["student_steps"], "ablation_temperature": 2,
    "c_student": {"shape": "gpt2 3x96", "val_loss": round(final_val_loss("c-student"), 4)},
    "trace_teacher": {"model": trace_teacher, "eval_accuracy": accuracy("eval-teacher.json")},
    "a_val_loss": a, "b_val_loss": b, "paired_val_loss_delta": paired,
    "traces": {k: traces[k] for k in ("prompts", "kept", "sample_accuracy", "samples_per_prompt", "temperature", "format")},
    "c_accuracy": c,
    "conclusions": {"distill_beats_baseline": paired["distill_t1"]["mean"] < 0,
                    "distill_beats_baseline_on_every_seed": max(paired["distill_t1"]["values"]) < 0,
                    "two_teachers_beat_one": paired["t1_t2_minus_t1"]["mean"] < 0,
                    "cache_matches_live_within_std": abs(b["distill_t1_cache"]["mean"] - a["distill_t1"]["mean"]) <= max(a["distill_t1"]["std"], b["distill_t1_cache"]["std"], 1e-9),
                    "traces_beat_answers": None if c["sft_traces"] is None else c["sft_traces"]["mean"] > c["sft_answers"]["mean"]},
    "stage_seconds": {k: float(v) for k, v in stages.items()},
}
json.dump(result, open(results, "w"), indent=2)
print(json.dumps({k: result[k] for k in ("wall_minutes", "a_val_loss", "b_val_loss", "paired_val_loss_delta", "c_accuracy", "conclusions")}, indent=1))
