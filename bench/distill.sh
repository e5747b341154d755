#!/usr/bin/env bash
# bench/distill.sh [--quick]: knowledge distillation (issue #11 §4, DeepSeek-R1 §2.4 distils into small models) on one
# verifiable task (arithmetic, byte-level tokens), as CLI calls:
#   data → two teachers (larger GPT-2s trained longer on the same text) → per seed:
#     (a) student trained without distillation (`train`) vs with soft labels from teacher 1 (`distill`), same steps and data;
#     (b) the same student distilled from teachers 1 + 2 (weights 1:1), and from teacher 1 through the top-k cache;
#     (c) reasoning distillation: the teacher writes solutions to train prompts (`data traces`, kept by rule), a student
#         (gpt2 3×96 pretrained C_STEPS steps on the text) is fine-tuned on them (`sft`) vs on the dataset's plain answers
#         of the same prompts (`data tasks --completion answer`), then held-out accuracy (`eval --task`, greedy).
# The teacher of (c) is $TEACHER when set (e.g. a GRPO-trained model folder), else teacher 1.
# Writes bench/results/distill.json and (full runs) docs/results/distill.json. Fields:
#   command, quick, wall_minutes, load_start/load_end (1/5/15-min load averages), seeds, settings{...},
#   teachers{t1,t2: {shape, steps, val_loss}}, trace_teacher{model, eval_accuracy},
#   a_val_loss{baseline, distill_t1, distill_t1_tau_ablation (τ = 2)}: {values: [per seed], mean, std} (student's final
#   held-out CE; within a seed every arm is evaluated on the same held-out windows),
#   b_val_loss{distill_t1_t2, distill_t1_cache}: the same, paired_val_loss_delta{arm: per-seed arm − baseline (t1_t2_minus_t1:
#   two teachers − one), mean, std}, traces{prompts, kept, sample_accuracy},
#   c_student{shape, val_loss}, c_accuracy{sft_answers, sft_traces}: {values, mean, std} (held-out greedy accuracy, %),
#   conclusions{...} (booleans:
#   distill_beats_baseline[_on_every_seed], two_teachers_beat_one: paired means; traces_beat_answers), stage_seconds{...}.
# std is the sample standard deviation over seeds. --quick: a smoke run of the same pipeline (~3 min; numbers meaningless).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
quick=0
for a in "$@"; do
  case "$a" in
    --quick) quick=1 ;;
    *) echo "error: unknown argument '$a' (usage: bench/distill.sh [--quick])" >&2; exit 2 ;;
  esac
done
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"

LEVELS=2
SEEDS=(1 2 3)
if [ "$quick" = 1 ]; then
  OUT=out/distill-quick; RESULTS=bench/results/distill-quick.json; DOCS_RESULTS=""
  EXAMPLES=1500; T1_STEPS=40; T2_STEPS=30; C_STEPS=20; S_STEPS=15; SFT_STEPS=10; TRACE_PROMPTS=24; SAMPLES=2; EVAL_COUNT=16; EVAL_ITERS=2
else
  OUT=out/distill; RESULTS=bench/results/distill.json; DOCS_RESULTS=docs/results/distill.json
  EXAMPLES=8000; T1_STEPS=1200; T2_STEPS=400; C_STEPS=600; S_STEPS=200; SFT_STEPS=150; TRACE_PROMPTS=300; SAMPLES=4; EVAL_COUNT=100; EVAL_ITERS=10
fi
TEMPERATURE=1; ALPHA=0.5; TOP_K=8; ABLATION_TEMPERATURE=2
COMMON=(--plain --set block_size=128 --set batch_size=16 --set dropout=0 --set threads=2 --set precision=fp32 --set log_interval=50 --set keep_last=1)
T1_SHAPE=(--set n_layer=4 --set n_head=4 --set n_embd=128)
T2_SHAPE=(--set n_layer=3 --set n_head=4 --set n_embd=96)
S_SHAPE=(--set n_layer=2 --set n_head=2 --set n_embd=48)
S_SET=(--set arch=gpt2 "${S_SHAPE[@]}" --set max_steps=$S_STEPS --set lr_decay_steps=$S_STEPS --set warmup_steps=$((S_STEPS / 10)) --set lr=3e-3 --set min_lr=3e-4
       --set eval_interval=$S_STEPS --set eval_iters=$EVAL_ITERS "${COMMON[@]}")

mkdir -p "$OUT" bench/results docs/results
times="$OUT/stage-times.tsv"; : > "$times"
log() { echo "== $*" >&2; }
model_of() { if [ -f "$1/config.json" ]; then echo "$1"; else ls -d "$1"/ckpt-* 2>/dev/null | sort | tail -n 1; fi; }
stage() {
  local name="$1"; shift
  log "$name: $*"
  local t0; t0=$(date +%s.%N)
  "$@" > "$OUT/$name.log" 2>&1 || { echo "error: stage $name failed (see $OUT/$name.log):" >&2; tail -n 5 "$OUT/$name.log" >&2; exit 1; }
  printf '%s\t%s\n' "$name" "$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')" >> "$times"
  tail -n 1 "$OUT/$name.log" >&2
}
start=$(date +%s.%N)
load_start="$(cut -d' ' -f1-3 /proc/loadavg)"

# ---- data: byte tokenizer; pretraining text (worked solutions); train prompts for traces; plain-answer SFT on the same prompts ----
rm -rf "$OUT"/tok "$OUT"/data
stage data bash -c "./sharpseek init --arch gpt2 --preset tiny --set vocab_size=257 --tokenizer byte --out $OUT/tok &&
  ./sharpseek data tasks --task arithmetic --levels $LEVELS --split train --count $EXAMPLES --seed 1 --format text --out $OUT/text.txt &&
  ./sharpseek data prepare --input $OUT/text.txt --tokenizer $OUT/tok --out $OUT/data &&
  ./sharpseek data tasks --task arithmetic --levels $LEVELS --split train --count $TRACE_PROMPTS --seed 7 --distinct --format prompts --out $OUT/trace-prompts.jsonl &&
  ./sharpseek data tasks --task arithmetic --levels $LEVELS --split train --count $TRACE_PROMPTS --seed 7 --distinct --format sft --completion answer --out $OUT/sft-answers.jsonl"

# ---- teachers: larger GPT-2s trained longer on the same text ----
teacher() {   # NAME STEPS SHAPE…
  local name="$1" steps="$2"; shift 2
  rm -rf "$OUT/$name"
  stage "$name" ./sharpseek train --arch gpt2 --data "$OUT/data" --out "$OUT/$name" "$@" --set max_steps="$steps" --set lr_decay_steps="$steps" \
    --set warmup_steps=$((steps / 10)) --set lr=2e-3 --set min_lr=2e-4 --set eval_interval="$steps" --set eval_iters=$EVAL_ITERS --set seed=100 "${COMMON[@]}"
}
teacher t1 $T1_STEPS "${T1_SHAPE[@]}"
teacher t2 $T2_STEPS "${T2_SHAPE[@]}"
t1="$(model_of "$OUT/t1")"; t2="$(model_of "$OUT/t2")"

# ---- (a), (b): students, same steps and data, per seed ----
rm -rf "$OUT"/cache "$OUT"/s-*
for s in "${SEEDS[@]}"; do
  stage "s-base-$s" ./sharpseek train --data "$OUT/data" --out "$OUT/s-base-$s" "${S_SET[@]}" --set seed=$s
  dset=(--data "$OUT/data" "${S_SET[@]}" --set seed=$s --set "distill.temperature=$TEMPERATURE" --set "distill.alpha=$ALPHA")
  stage "s-t1-$s" ./sharpseek distill --out "$OUT/s-t1-$s" --teacher "$t1" "${dset[@]}"
  stage "s-t1tau2-$s" ./sharpseek distill --out "$OUT/s-t1tau2-$s" --teacher "$t1" "${dset[@]}" --set "distill.temperature=$ABLATION_TEMPERATURE"
  stage "s-t1t2-$s" ./sharpseek distill --out "$OUT/s-t1t2-$s" --teacher "$t1:1" --teacher "$t2:1" "${dset[@]}"
  stage "s-cache-$s" ./sharpseek distill --out "$OUT/s-cache-$s" --teacher "$t1" "${dset[@]}" --set "distill.cache={\"dir\": \"$OUT/cache\", \"top_k\": $TOP_K}"
done

# ---- (c): reasoning distillation ----
trace_teacher="${TEACHER:-$t1}"
stage eval-teacher ./sharpseek eval --model "$trace_teacher" --task arithmetic --levels $LEVELS --count $EVAL_COUNT --json "$OUT/eval-teacher.json"
log "traces: ./sharpseek data traces --model $trace_teacher …"
rm -f "$OUT/sft-traces.jsonl" "$OUT/traces.json"
# A teacher that gets nothing right gives no traces (exit 2, stats still written): (c)'s traces arm is then recorded as skipped.
./sharpseek data traces --model "$trace_teacher" --prompts "$OUT/trace-prompts.jsonl" --samples $SAMPLES --temperature 0.7 --seed 11 \
  --max-per-prompt 1 --out "$OUT/sft-traces.jsonl" --stats "$OUT/traces.json" > "$OUT/traces.log" 2>&1 || true
tail -n 1 "$OUT/traces.log" >&2
[ -f "$OUT/traces.json" ] || { echo "error: data traces failed (see $OUT/traces.log)" >&2; exit 1; }
rm -rf "$OUT"/sft-answers-* "$OUT"/sft-traces-* "$OUT"/eval-sft-*
SFT_SET=(--set max_steps=$SFT_STEPS --set lr_decay_steps=$SFT_STEPS --set warmup_steps=$((SFT_STEPS / 10)) --set lr=1e-3 --set min_lr=1e-4
         --set eval_interval=$SFT_STEPS --set eval_iters=2 --set sft.val_fraction=0.1 "${COMMON[@]}")
# The (c) student: the (a) students (2×48, 200 steps) cannot add at all, so (c) fine-tunes one larger student pretrained
# once on the same text (gpt2 3×96, C_STEPS steps, far below teacher 1) with SFT seeds 1..3 per arm.
rm -rf "$OUT/c-student"
stage c-student ./sharpseek train --arch gpt2 --data "$OUT/data" --out "$OUT/c-student" "${T2_SHAPE[@]}" --set max_steps=$C_STEPS --set lr_decay_steps=$C_STEPS \
  --set warmup_steps=$((C_STEPS / 10)) --set lr=2e-3 --set min_lr=2e-4 --set eval_interval=$C_STEPS --set eval_iters=$EVAL_ITERS --set seed=200 "${COMMON[@]}"
base="$(model_of "$OUT/c-student")"
for s in "${SEEDS[@]}"; do
  for kind in answers traces; do
    [ -f "$OUT/sft-$kind.jsonl" ] || continue
    stage "sft-$kind-$s" ./sharpseek sft --init-from "$base" --data "$OUT/sft-$kind.jsonl" --out "$OUT/sft-$kind-$s" "${SFT_SET[@]}" --set seed=$s
    stage "eval-sft-$kind-$s" ./sharpseek eval --model "$(model_of "$OUT/sft-$kind-$s")" --task arithmetic --levels $LEVELS --count $EVAL_COUNT \
      --json "$OUT/eval-sft-$kind-$s.json"
  done
done

end=$(date +%s.%N)
load_end="$(cut -d' ' -f1-3 /proc/loadavg)"
command="bench/distill.sh"; if [ "$quick" = 1 ]; then command="$command --quick"; fi
python3 bench/distill_results.py "$OUT" "$RESULTS" "$command" "$start" "$end" "$load_start" "$load_end" "$quick" "$trace_teacher" "${SEEDS[*]}" \
  "$EXAMPLES $T1_STEPS $T2_STEPS $S_STEPS $SFT_STEPS $TRACE_PROMPTS $SAMPLES $EVAL_COUNT $TEMPERATURE $ALPHA $TOP_K $LEVELS"
if [ -n "$DOCS_RESULTS" ]; then cp "$RESULTS" "$DOCS_RESULTS"; fi
log "wrote $RESULTS${DOCS_RESULTS:+ and $DOCS_RESULTS}"
