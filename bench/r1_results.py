#!/usr/bin/env python3
"""Collects bench/r1.sh's stage outputs into one results JSON (see that script).

Reads only files the stages write: eval-*.json (sharpseek eval --task --json: greedy accuracy, format rate, KL to a
reference), each run's metrics.jsonl, stage-times.tsv and run-*.tsv (start/end clock and load). Accuracies in percent.
"""
import json, os, statistics, sys

out, results, command, quick = sys.argv[1:]


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_results import load, cpu, run_metrics  # noqa: E402


def metrics(run):
    return run_metrics(out, run)


def ev(name, key="accuracy"):
    d = load(os.path.join(out, f"eval-{name}.json"))
    return None if d is None or d.get(key) is None else round(d[key], 2)


stage_rows = {}
for times in sorted(f for f in os.listdir(out) if f.startswith("stage-times")):
    for line in open(os.path.join(out, times)):
        name, seconds, cmd = (line.rstrip("\n").split("\t") + ["", ""])[:3]
        stage_rows[name] = {"minutes": None if seconds == "skipped" else round(float(seconds) / 60, 2), "command": cmd}


def minutes(*names):
    vals = [stage_rows[n]["minutes"] for n in names if n in stage_rows and stage_rows[n]["minutes"] is not None]
    return round(sum(vals), 2) if vals else None


def last_train(run, keys):
    rows = [r for r in metrics(run) if "loss" in r and r.get("val_loss") is None and any(k in r for k in keys)]
    return {k: rows[-1].get(k) for k in keys} if rows else {}


def steps(run):
    rows = [r for r in metrics(run) if r.get("step") is not None]
    return max(r["step"] for r in rows) if rows else None


def runclock(part):
    path = os.path.join(out, f"run-{part}.tsv")
    if not os.path.exists(path):
        return {}
    return {row[0]: (float(row[1]), row[2]) for row in (l.rstrip("\n").split("\t") for l in open(path))}


previous = load(results) or {}
r = dict(previous)
r.update({"issue": "#11 DeepSeek-R1 on a CPU: GRPO with rule rewards, R1-Zero and R1 recipes, curriculum, head to head",
          "task": "arithmetic levels 2,3 (2-3 digit + and -), held-out exact match by rule, greedy; R1 layout scored from the one <answer> tag",
          "command": command, "quick": quick == "1", "cpu": cpu(), "cpus": os.cpu_count()})
GRPO_KEYS = ["reward_mean", "accuracy", "format_rate", "kl", "completion_length", "clip_fraction", "generation_seconds", "optimize_seconds"]

before, after = ev("zero-before"), ev("zero-after")
if after is not None:
    clock = runclock("zero") or runclock("all")
    wall = None
    if "start" in clock and "zero_end" in clock:
        wall = round((clock["zero_end"][0] - clock["start"][0]) / 60, 2)
    r.update({
        "accuracy_before_grpo": before, "accuracy_after_grpo": after,
        "format_rate_before_grpo": ev("zero-before", "format_rate"), "format_rate_after_grpo": ev("zero-after", "format_rate"),
        "gain_points": None if before is None else round(after - before, 2),
        "error_rate_ratio": None if before is None or before >= 100 else round((100 - after) / (100 - before), 3),
        "wall_minutes": wall, "wall_minutes_note": "R1-Zero end to end: data for every part, pretraining, GRPO and the evaluations",
        "load_average_start": clock.get("start", (0, None))[1], "load_average_end": clock.get("zero_end", (0, None))[1],
        "zero": {"pretrain_minutes": minutes("pretrain-r1"), "grpo_minutes": minutes("grpo-zero"), "grpo_steps": steps("grpo-zero"),
                 "grpo_last_train_metrics": last_train("grpo-zero", GRPO_KEYS), "kl_to_start": ev("zero-after", "kl_to_reference")},
    })
if ev("curriculum") is not None:
    r["curriculum"] = {"eval": "3-digit test prompts", "base_accuracy": ev("curriculum-base"),
                       "curriculum_accuracy": ev("curriculum"), "final_mix_accuracy": ev("final-mix"),
                       "curriculum_format_rate": ev("curriculum", "format_rate"), "final_mix_format_rate": ev("final-mix", "format_rate"),
                       "steps": steps("grpo-curriculum"), "final_mix_steps": steps("grpo-final-mix"),
                       "minutes": {"curriculum": minutes("grpo-curriculum"), "final_mix": minutes("grpo-final-mix")}}
if ev("r1-after") is not None:
    r["r1"] = {"cold_start_accuracy": ev("r1-before"), "cold_start_format_rate": ev("r1-before", "format_rate"),
               "accuracy_after_grpo": ev("r1-after"), "format_rate_after_grpo": ev("r1-after", "format_rate"),
               "minutes": {"pretrain": minutes("pretrain-plain"), "cold_start": minutes("cold-start"), "grpo": minutes("grpo-r1")}}
if ev("h2h-start") is not None:
    h = {"start_accuracy": ev("h2h-start"), "methods": {},
         "note": "each method's wall_minutes includes its pair sampling and reward model; grpo: the R1-Zero settings (lr 1e-4), grpo-tuned: lr 2e-5, k3 capped at 10"}
    for m, stages in [("sft-more", ["h2h-sft-more"]), ("dpo", ["h2h-pairs", "h2h-dpo"]), ("ppo", ["h2h-pairs", "h2h-reward", "h2h-ppo"]), ("grpo", ["h2h-grpo"]), ("grpo-tuned", ["h2h-grpo-tuned"])]:
        if ev(f"h2h-{m}") is None:
            continue
        h["methods"][m] = {"accuracy": ev(f"h2h-{m}"), "kl_to_start": ev(f"h2h-{m}", "kl_to_reference"), "wall_minutes": minutes(*stages)}
    r["head_to_head"] = h
if ev("distill-teacher") is not None:
    def arm(name, prefix="student"):
        vals = [ev(f"{prefix}-{name}-{s}") for s in range(1, 10) if ev(f"{prefix}-{name}-{s}") is not None]
        return {"values": vals, "mean": round(statistics.mean(vals), 2) if vals else None,
                "std": round(statistics.stdev(vals), 2) if len(vals) > 1 else None}
    traces = load(os.path.join(out, "traces.json")) or {}
    t, a = arm("traces"), arm("answers")
    t6, a6 = arm("traces", "student600"), arm("answers", "student600")
    teacher = ev("distill-teacher")
    r["reasoning_distillation"] = {
        "teacher_accuracy": teacher, "teacher": "the R1-Zero GRPO model (4x128)", "student": "gpt2 3x96, pretrained like the R1-Zero base",
        "student_base_accuracy": ev("student-base"), "traces": {k: traces.get(k) for k in ("prompts", "kept", "sample_accuracy") if k in traces},
        "student_on_traces": t, "student_on_answers": a, "sft_steps": 300,
        "sft_600_steps": {"student_on_traces": t6, "student_on_answers": a6,
                          "traces_over_teacher": None if not t6["mean"] or not teacher else round(t6["mean"] / teacher, 3)},
        "traces_over_teacher": None if not t["mean"] or not teacher else round(t["mean"] / teacher, 3),
        "traces_beat_answers": None if t["mean"] is None or a["mean"] is None else t["mean"] > a["mean"]}
r["stages"] = stage_rows
os.makedirs(os.path.dirname(results) or ".", exist_ok=True)
json.dump(r, open(results, "w"), indent=2)
print(json.dumps({k: v for k, v in r.items() if k not in ("stages",)}, indent=2))
