#!/usr/bin/env bash
# bench/shakespeare.sh [CONFIG] [MINUTES] [--set key=value …]: trains the Tiny Shakespeare char-level recipe under a
# wall-clock limit and writes docs/results/shakespeare-char.json (best_val_loss, wall_minutes, command, steps, tokens,
# load average) plus docs/shakespeare-char-loss.png.
# Defaults: configs/train-shakespeare-150.json (target: val loss ≤ 1.50) and 30 minutes. The corpus is taken from
# $SHAKESPEARE (default /work/shared/data/tinyshakespeare/input.txt; karpathy/char-rnn's tinyshakespeare/input.txt).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
config="${1:-configs/train-shakespeare-150.json}"; [ $# -ge 1 ] && shift
minutes="${1:-30}"; [ $# -ge 1 ] && shift
input="${SHAKESPEARE:-/work/shared/data/tinyshakespeare/input.txt}"
data="data/shakespeare-char"
out="out/bench-shakespeare-$(basename "$config" .json)"
results="${RESULTS:-docs/results/shakespeare-char.json}"
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"

[ -f "$data/meta.json" ] || ./sharpseek data prepare --input "$input" --tokenizer char --out "$data" >&2
rm -rf "$out"
load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
command="./sharpseek train --config $config --data $data --out $out --plain --set max_minutes=$minutes $*"
start=$(date +%s.%N)
$command | tee "$out.log" >&2
end=$(date +%s.%N)
load_end="$(cut -d' ' -f1-3 /proc/loadavg)"

mkdir -p "$(dirname "$results")" docs
cp "$out/loss.png" "docs/$(basename "$results" .json)-loss.png" 2>/dev/null || true
python3 - "$out" "$results" "$command" "$start" "$end" "$load_start" "$load_end" "$config" <<'PY'
import json, os, sys
out, results, command, start, end, load_start, load_end, config = sys.argv[1:]
records = [json.loads(l) for l in open(os.path.join(out, "metrics.jsonl"))]
cfg = json.load(open(os.path.join(out, "train_config.json"))) if os.path.exists(os.path.join(out, "train_config.json")) else json.load(open(config))
vals = [r for r in records if r.get("val_loss") is not None]
best = min(vals, key=lambda r: r["val_loss"])
steps = max(r["step"] for r in records)
tokens_per_step = cfg["batch_size"] * cfg["block_size"] * cfg.get("grad_accum", 1)
first_below = next((r for r in vals if r["val_loss"] <= 1.50), None)
doc = {
    "best_val_loss": round(best["val_loss"], 4), "best_step": best["step"],
    "wall_minutes": round((float(end) - float(start)) / 60, 2),
    "train_minutes_at_best": round(best["elapsed"] / 60, 2),
    "command": command, "config": cfg, "steps": steps, "tokens": steps * tokens_per_step,
    "reached_1_50": first_below is not None,
    "first_step_at_or_below_1_50": first_below["step"] if first_below else None,
    "minutes_to_1_50": round(first_below["elapsed"] / 60, 2) if first_below else None,
    "load_average_start": load_start, "load_average_end": load_end, "cpus": os.cpu_count(),
    "val_curve": [[r["step"], round(r["val_loss"], 4)] for r in vals],
    "note": "wall-clock depends on machine load (see load averages); steps and tokens do not",
}
tmp = results + ".tmp"
json.dump(doc, open(tmp, "w"), indent=2); open(tmp, "a").write("\n"); os.replace(tmp, results)
print(f"best val loss {doc['best_val_loss']} at step {doc['best_step']}; wrote {results}", file=sys.stderr)
PY
