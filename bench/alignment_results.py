#!/usr/bin/env python3
"""Collects bench/alignment.sh's stage outputs into one results JSON (see that script).

Reads only files the stages write: eval-*-{greedy,sampled}.json (sharpseek eval --task --json), pairs-*.json
(sharpseek data pairs --stats), each run's metrics.jsonl, and stage-times.tsv. The headline accuracies are greedy
(exact match on the fixed held-out test prompts); the temperature-1 sampled ones are reported beside them.
"""
import json, os, re, sys

out, results, command, start, end, load_start, load_end, quick = sys.argv[1:]


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_results import load, cpu, run_metrics  # noqa: E402


def metrics(run):
    return run_metrics(out, run)


def accuracy(stage, decoding):
    d = load(os.path.join(out, f"eval-{stage}-{decoding}.json"))
    return None if d is None else round(d["accuracy"], 2)


def best_val_loss(run):
    vals = [r["val_loss"] for r in metrics(run) if r.get("val_loss") is not None]
    return min(vals) if vals else None


def last_eval_metric(run, pattern):
    """The newest evaluation record's first metric whose name matches pattern (e.g. the reward model's pair accuracy)."""
    for r in reversed([r for r in metrics(run) if "val_loss" in r]):
        for k, v in r.items():
            if re.search(pattern, k) and isinstance(v, (int, float)):
                return k, v
    return None, None


def mean_train_metric(run, pattern, last_fraction=0.25):
    """Mean over the last quarter of the training records of the first metric matching pattern (e.g. PPO's KL)."""
    rows = [r for r in metrics(run) if "val_loss" not in r]
    key = next((k for r in rows for k in r if re.search(pattern, k)), None)
    if key is None:
        return None, None
    vals = [r[key] for r in rows if isinstance(r.get(key), (int, float))]
    tail = vals[int(len(vals) * (1 - last_fraction)):] or vals
    return key, sum(tail) / len(tail)


stages = {}
for line in open(os.path.join(out, "stage-times.tsv")):
    name, secs, cmd = line.rstrip("\n").split("\t", 2)
    stages[name] = {"skipped": cmd} if secs == "skipped" else {"minutes": round(float(secs) / 60, 2), "command": cmd}


def trainable(run):
    """'trainable parameters: N of M (P%)' as the training verb prints it (the one log line read)."""
    path = os.path.join(out, f"{run}.log")
    if not os.path.exists(path):
        return None
    m = re.search(r"trainable parameters: ([\d,]+) of ([\d,]+)", open(path).read())
    if not m:
        return None
    n, total = (int(x.replace(",", "")) for x in m.groups())
    return {"trainable": n, "total": total, "percent": round(100 * n / total, 3)}


full_loss, lora_loss = best_val_loss("sft"), best_val_loss("sft-lora")
rm_key, rm_acc = last_eval_metric("reward", r"^val_accuracy$")
if rm_acc is not None and rm_acc <= 1:
    rm_acc *= 100
# the reward verb's closing line scores every held-out pair (the evaluations above see eval_iters batches of them)
m = re.search(r"held-out pair accuracy ([\d.]+) ?% \((\d+) pairs\)", open(os.path.join(out, "reward.log")).read()) if os.path.exists(os.path.join(out, "reward.log")) else None
if m:
    rm_key, rm_acc = f"all {m.group(2)} held-out pairs (reward.log)", float(m.group(1))
kl_key, kl = mean_train_metric("ppo", r"^kl$")
sft, ppo, dpo = accuracy("sft", "greedy"), accuracy("ppo", "greedy"), accuracy("dpo", "greedy")
doc = {
    "issue": "#10 alignment the way GPT was aligned",
    "task": "arithmetic levels 2,3 (2-3 digit + and -), exact match by rule on the fixed held-out test prompts",
    "accuracy_decoding": "greedy (headline fields); *_sampled: temperature 1, no top-k",
    "pretrain_accuracy": accuracy("pretrain", "greedy"), "pretrain_accuracy_sampled": accuracy("pretrain", "sampled"),
    "sft_accuracy": sft, "sft_accuracy_sampled": accuracy("sft", "sampled"),
    "ppo_accuracy": ppo, "ppo_accuracy_sampled": accuracy("ppo", "sampled"),
    "dpo_accuracy": dpo, "dpo_accuracy_sampled": accuracy("dpo", "sampled"),
    "reward_model_pair_accuracy": None if rm_acc is None else round(rm_acc, 2), "reward_model_metric": rm_key,
    "ppo_mean_kl": None if kl is None else round(kl, 5), "ppo_kl_metric": kl_key,
    "sft_best_val_loss": full_loss, "sft_lora_best_val_loss": lora_loss,
    "lora_vs_full_sft_loss_ratio": round(lora_loss / full_loss, 4) if full_loss and lora_loss else None,
    "lora_trainable": trainable("sft-lora"),
    "pairs_train": load(os.path.join(out, "pairs-train.json")), "pairs_test": load(os.path.join(out, "pairs-test.json")),
    "targets": {
        "reward_model_pair_accuracy_ge_90": None if rm_acc is None else rm_acc >= 90,
        "ppo_gain_ge_10_points": None if ppo is None or sft is None else ppo - sft >= 10,
        "dpo_gain_positive": None if dpo is None or sft is None else dpo > sft,
        "lora_within_5_percent": None if not (full_loss and lora_loss) else lora_loss / full_loss <= 1.05,
    },
    "stages": stages,
    "wall_minutes": round((float(end) - float(start)) / 60, 2),
    "wall_minutes_target": "<= 60 on a 2-core machine",
    "command": command, "quick": quick == "1",
    "cpu": cpu(), "load_average_start": load_start, "load_average_end": load_end, "cpus": os.cpu_count(),
    "note": "wall-clock depends on machine load (see load averages); training stages run by steps, so their results do not",
}
os.makedirs(os.path.dirname(results) or ".", exist_ok=True)
tmp = results + ".tmp"
with open(tmp, "w") as f:
    json.dump(doc, f, indent=2)
    f.write("\n")
os.replace(tmp, results)
print(json.dumps({k: doc[k] for k in ("pretrain_accuracy", "sft_accuracy", "ppo_accuracy", "dpo_accuracy", "reward_model_pair_accuracy",
                                       "ppo_mean_kl", "lora_vs_full_sft_loss_ratio", "wall_minutes")}), file=sys.stderr)
