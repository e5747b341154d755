#!/usr/bin/env bash
# bench/shakespeare.sh [CONFIG] [MINUTES] [--set key=value …]: trains the Tiny Shakespeare char-level recipe under a
# wall-clock limit and writes docs/results/shakespeare-char.json (best_val_loss, wall_minutes, command, steps, tokens,
# load average) plus docs/shakespeare-char-loss.png.
# Defaults: configs/train-shakespeare-30min.json (precision auto, schedule time: the cosine ends at the deadline on any
# CPU; target: val loss ≤ 1.50) and 30 minutes. The corpus is $SHAKESPEARE, else ../shared/data/tinyshakespeare/input.txt
# next to the checkout (no download: the machines reach no host that serves it).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
config="${1:-configs/train-shakespeare-30min.json}"; [ $# -ge 1 ] && shift
minutes="${1:-30}"; [ $# -ge 1 ] && shift
input="${SHAKESPEARE:-../shared/data/tinyshakespeare/input.txt}"
if [ ! -f "$input" ]; then
  echo "error: Tiny Shakespeare not found at $input; set SHAKESPEARE=/path/to/input.txt (the checkout's ../shared/data has it)" >&2
  exit 2
fi
data="data/shakespeare-char"
out="out/bench-shakespeare-$(basename "$config" .json)"
results="${RESULTS:-docs/results/shakespeare-char.json}"
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"

[ -f "$data/meta.json" ] || ./sharpseek data prepare --input "$input" --tokenizer char --out "$data" >&2
rm -rf "$out"
mkdir -p "$(dirname "$out")"
load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
command="./sharpseek train --config $config --data $data --out $out --plain --set max_minutes=$minutes $*"
start=$(date +%s.%N)
$command | tee "$out.log" >&2
end=$(date +%s.%N)
load_end="$(cut -d' ' -f1-3 /proc/loadavg)"

mkdir -p "$(dirname "$results")" docs
cp "$out/loss.png" "docs/$(basename "$results" .json)-loss.png" 2>/dev/null || true
python3 - "$out" "$results" "$command" "$start" "$end" "$load_start" "$load_end" "$config" <<'PY'
import glob, json, os, sys
out, results, command, start, end, load_start, load_end, config = sys.argv[1:]
records = [json.loads(l) for l in open(os.path.join(out, "metrics.jsonl"))]
cfg = json.load(open(os.path.join(out, "train_config.json"))) if os.path.exists(os.path.join(out, "train_config.json")) else json.load(open(config))
vals = [r for r in records if r.get("val_loss") is not None]
trains = [r for r in records if r.get("loss") is not None]
states = sorted(glob.glob(os.path.join(out, "ckpt-*", "trainer_state.json")))
state = json.load(open(states[-1])) if states else {}
best = min(vals, key=lambda r: r["val_loss"])
steps = max(r["step"] for r in records)
tokens_per_step = cfg["batch_size"] * cfg["block_size"] * cfg.get("grad_accum", 1)
first_below = next((r for r in vals if r["val_loss"] <= 1.50), None)
doc = {
    "best_val_loss": round(best["val_loss"], 4), "best_step": best["step"],
    "wall_minutes": round((float(end) - float(start)) / 60, 2),
    "train_minutes_at_best": round(best["elapsed"] / 60, 2),
    "command": command, "config": cfg, "steps": steps, "tokens": steps * tokens_per_step,
    "precision": state.get("precision"), "schedule": cfg.get("schedule", "steps"), "horizon_steps": state.get("horizon_steps"),
    "final_lr": trains[-1]["lr"] if trains else None, "min_lr": cfg["min_lr"],
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
