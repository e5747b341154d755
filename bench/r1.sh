#!/usr/bin/env bash
# bench/r1.sh [--quick] [--part zero|curriculum|r1|h2h|distill|all]: DeepSeek-R1 on a CPU (issue #11), as CLI calls, each stage timed.
#   zero        R1-Zero: pretrain a 0.87 M byte-level GPT-2 on task text in R1's layout (question, <think>column work</think>,
#               <answer>n</answer>), then GRPO with the rule rewards straight from it (no SFT). Its wall time covers
#               data, pretraining, GRPO and the evaluations.
#   curriculum  From the same pretrained model, GRPO in three stages of rising difficulty (2-digit → 2/3-digit → 3-digit),
#               against GRPO on the final mix (3-digit) from the start at equal steps; both scored on 3-digit test prompts.
#   r1          R1: pretrain on plain task text (no tags), a cold start of 300 formatted examples (chat SFT), then GRPO.
#   h2h         The GPT way vs the DeepSeek way from one SFT checkpoint (the alignment pipeline's: plain pretraining +
#               chat SFT on worked solutions ending in "#### n"), each method given the same wall-clock budget
#               (H2H_MINUTES, through max_minutes): SFT only (continued on fresh examples), DPO on self-sampled pairs,
#               PPO with a reward model trained on those pairs, GRPO with the rule (correctness). The budget of DPO and
#               PPO includes sampling the pairs and training the reward model. GRPO runs twice: with the R1-Zero settings, and
#               with lr 2e-5 and k3 capped at 10 (also alone: --part h2h-grpo, after h2h).
#   distill     R1-distill: the R1-Zero GRPO model (needs --part zero first) writes solutions to train prompts, only those
#               the checker accepts (R1 format and the tagged answer) are kept (data traces); a smaller student (3 layers ×
#               96, pretrained like the R1-Zero base) is fine-tuned on them, against the same student fine-tuned on the
#               dataset's plain answers (R1 layout, answer only) of the same prompts; DISTILL_SEEDS seeds each.
# Task: 2–3-digit addition and subtraction (arithmetic levels 2,3) unless said otherwise; accuracy = exact match by rule on
# the fixed held-out test prompts, greedy, strict for the R1 layout (the one <answer> tag), with the format rate beside it.
# Writes bench/results/r1.json and docs/results/r1.json (fields: accuracy_before_grpo, accuracy_after_grpo,
# format_rate_after_grpo, wall_minutes (the R1-Zero recipe end to end), command, and the curriculum, r1 and
# head_to_head sections), and copies the plots to docs/r1-*.png. --quick: a smoke run (~3 min, numbers meaningless).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
quick=0; part=all
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --part) part="${2:?--part needs zero, curriculum, r1, h2h, distill or all}"; shift ;;
    *) echo "error: unknown argument '$1' (usage: bench/r1.sh [--quick] [--part zero|curriculum|r1|h2h|distill|all])" >&2; exit 2 ;;
  esac
  shift
done
case "$part" in zero|curriculum|r1|h2h|h2h-grpo|distill|all) ;; *) echo "error: --part must be zero, curriculum, r1, h2h, h2h-grpo, distill or all, not '$part'" >&2; exit 2 ;; esac
runs() { [ "$part" = all ] || [ "$part" = "$1" ]; }
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"

# ---- settings ----
LEVELS=2,3
if [ "$quick" = 1 ]; then
  OUT=out/r1-quick; RESULTS=bench/results/r1-quick.json; DOCS_RESULTS=""
  PRETRAIN_EXAMPLES=2000; PROMPTS=64; EVAL_COUNT=16; COLD=40; H2H_MINUTES=0.3
  PRE_SET=(--set max_steps=30 --set lr_decay_steps=30 --set warmup_steps=5 --set eval_interval=30 --set eval_iters=2 --set batch_size=8)
  SFT_SET=(--set max_steps=6 --set lr_decay_steps=6 --set warmup_steps=1 --set eval_interval=6 --set eval_iters=2)
  GRPO_SET=(--set max_steps=4 --set lr_decay_steps=4 --set warmup_steps=1 --set eval_interval=4 --set grpo.prompts_per_step=2 --set grpo.mini_batch_size=16 --set grpo.eval_batch_size=16 --set grpo.max_new_tokens=32)
  STAGE_STEPS=(1 1 2); CURRICULUM_STEPS=4; R1_STEPS=4; TRACE_PROMPTS=16; DISTILL_SEEDS="1"
else
  OUT=out/r1; RESULTS=bench/results/r1.json; DOCS_RESULTS=docs/results/r1.json
  PRETRAIN_EXAMPLES=40000; PROMPTS=4000; EVAL_COUNT=400; COLD=300; H2H_MINUTES="${H2H_MINUTES:-5}"
  PRE_SET=(); SFT_SET=(); GRPO_SET=()
  STAGE_STEPS=(20 20 40); CURRICULUM_STEPS=80; R1_STEPS=80; TRACE_PROMPTS=2000; DISTILL_SEEDS="${DISTILL_SEEDS:-1 2 3}"
fi

mkdir -p "$OUT" bench/results docs/results
times="$OUT/stage-times-$part.tsv"; touch "$times"   # one file per part: parts may run at the same time
log() { echo "== $*" >&2; }
model_of() { if [ -f "$1/config.json" ]; then echo "$1"; else ls -d "$1"/ckpt-* 2>/dev/null | sort | tail -n 1; fi; }
# stage NAME COMMAND…: runs and times one stage (output to $OUT/NAME.log), records "NAME seconds command" (a re-run replaces the row).
stage() {
  local name="$1"; shift
  log "$name: $*"
  local t0; t0=$(date +%s.%N)
  "$@" > "$OUT/$name.log" 2>&1 || { echo "error: stage $name failed (see $OUT/$name.log):" >&2; tail -n 5 "$OUT/$name.log" >&2; exit 1; }
  grep -v -P "^\Q$name\E\t" "$times" > "$times.tmp" || true; mv "$times.tmp" "$times"
  printf '%s\t%s\t%s\n' "$name" "$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')" "$(tr -s '\n ' '  ' <<<"$*")" >> "$times"
  tail -n 1 "$OUT/$name.log" >&2
}
# evaluate NAME MODEL TEMPLATE [LEVELS [REFERENCE]]: greedy held-out accuracy (and format rate; KL to REFERENCE) as JSON.
evaluate() {
  local ref=(); [ -n "${5:-}" ] && ref=(--reference "$5")
  stage "eval-$1" ./sharpseek eval --model "$2" --task arithmetic --levels "${4:-$LEVELS}" --count $EVAL_COUNT --template "$3" "${ref[@]}" --json "$OUT/eval-$1.json"
}
start=$(date +%s.%N)
load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
printf 'start\t%s\t%s\n' "$start" "$load_start" > "$OUT/run-$part.tsv"

# ---- data (every part): byte tokenizer, R1-layout and plain pretraining text, prompt files ----
# (made once; --part zero and all remake it, other parts reuse it, so parts after the first can run side by side)
if [ ! -f "$OUT/data.done" ] || [ "$part" = zero ] || [ "$part" = all ]; then
rm -rf "$OUT/tokenizer" "$OUT/data" "$OUT/plain-data" "$OUT/data.done"
stage data bash -c "set -e
  ./sharpseek init --arch gpt2 --preset tiny --set vocab_size=257 --tokenizer byte --out $OUT/tokenizer
  ./sharpseek data tasks --task arithmetic --levels $LEVELS --split train --count $PRETRAIN_EXAMPLES --seed 1 --template r1 --out $OUT/pretrain-r1.txt
  ./sharpseek data prepare --input $OUT/pretrain-r1.txt --tokenizer $OUT/tokenizer --out $OUT/data
  ./sharpseek data tasks --task arithmetic --levels $LEVELS --split train --count $PRETRAIN_EXAMPLES --seed 1 --out $OUT/pretrain-plain.txt
  ./sharpseek data prepare --input $OUT/pretrain-plain.txt --tokenizer $OUT/tokenizer --out $OUT/plain-data
  ./sharpseek data tasks --task arithmetic --levels $LEVELS --split train --count $COLD --seed 3 --format sft --template r1 --out $OUT/cold-start.jsonl
  ./sharpseek data tasks --task arithmetic --levels $LEVELS --split train --count $PROMPTS --seed 4 --distinct --format prompts --template r1 --out $OUT/prompts-r1.jsonl
  ./sharpseek data tasks --task arithmetic --levels $LEVELS --split test --count $EVAL_COUNT --format prompts --template r1 --out $OUT/test-r1.jsonl
  ./sharpseek data tasks --task arithmetic --levels $LEVELS --split train --count $PROMPTS --seed 4 --distinct --format prompts --out $OUT/prompts-plain.jsonl
  ./sharpseek data tasks --task arithmetic --levels $LEVELS --split test --count $EVAL_COUNT --format prompts --out $OUT/test-plain.jsonl
  for l in 2 3; do ./sharpseek data tasks --task arithmetic --levels \$l --split train --count $PROMPTS --seed 5 --distinct --format prompts --template r1 --out $OUT/prompts-r1-level\$l.jsonl; done
  ./sharpseek data tasks --task arithmetic --levels 3 --split test --count $EVAL_COUNT --format prompts --template r1 --out $OUT/test-r1-level3.jsonl"
touch "$OUT/data.done"
fi

# ---- R1-Zero: pretraining on R1-layout task text, then GRPO straight from it ----
zero_base=""
if runs zero || runs curriculum; then
  if [ ! -f "$OUT/zero-base.done" ] || runs zero; then
    rm -rf "$OUT/pretrain-r1"
    stage pretrain-r1 ./sharpseek train --config configs/r1/pretrain.json --set data_dir=$OUT/data --out $OUT/pretrain-r1 --plain "${PRE_SET[@]}"
    touch "$OUT/zero-base.done"
  fi
  zero_base="$(model_of "$OUT/pretrain-r1")"
fi
if runs zero; then
  evaluate zero-before "$zero_base" r1
  rm -rf "$OUT/grpo-zero"
  stage grpo-zero ./sharpseek grpo --config configs/r1/grpo.json --init-from "$zero_base" --set grpo.prompts=$OUT/prompts-r1.jsonl \
    --set grpo.eval_prompts=$OUT/test-r1.jsonl --out $OUT/grpo-zero --plain "${GRPO_SET[@]}"
  evaluate zero-after "$(model_of "$OUT/grpo-zero")" r1 "$LEVELS" "$zero_base"
  printf 'zero_end\t%s\t%s\n' "$(date +%s.%N)" "$(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/run-$part.tsv"
fi

# ---- curriculum vs the final mix from the start, equal steps ----
if runs curriculum; then
  s1=${STAGE_STEPS[0]}; s2=${STAGE_STEPS[1]}; s3=${STAGE_STEPS[2]}
  stages="[{\"name\":\"2-digit\",\"prompts\":\"$OUT/prompts-r1-level2.jsonl\",\"steps\":$s1},{\"name\":\"2- and 3-digit\",\"prompts\":\"$OUT/prompts-r1.jsonl\",\"steps\":$s2},{\"name\":\"3-digit\",\"prompts\":\"$OUT/prompts-r1-level3.jsonl\",\"steps\":$s3}]"
  rm -rf "$OUT/grpo-curriculum" "$OUT/grpo-final-mix"
  stage grpo-curriculum ./sharpseek grpo --config configs/r1/grpo.json --init-from "$zero_base" --set grpo.prompts=null --set "grpo.stages=$stages" \
    --set grpo.eval_prompts=$OUT/test-r1-level3.jsonl --out $OUT/grpo-curriculum --plain "${GRPO_SET[@]}" --set max_steps=$CURRICULUM_STEPS --set lr_decay_steps=$CURRICULUM_STEPS
  stage grpo-final-mix ./sharpseek grpo --config configs/r1/grpo.json --init-from "$zero_base" --set grpo.prompts=$OUT/prompts-r1-level3.jsonl \
    --set grpo.eval_prompts=$OUT/test-r1-level3.jsonl --out $OUT/grpo-final-mix --plain "${GRPO_SET[@]}" --set max_steps=$CURRICULUM_STEPS --set lr_decay_steps=$CURRICULUM_STEPS
  evaluate curriculum-base "$zero_base" r1 3
  evaluate curriculum "$(model_of "$OUT/grpo-curriculum")" r1 3
  evaluate final-mix "$(model_of "$OUT/grpo-final-mix")" r1 3
fi

# ---- R1: plain pretraining, a cold start of formatted examples (chat SFT), then GRPO ----
if runs r1; then
  rm -rf "$OUT/pretrain-plain" "$OUT/cold-start" "$OUT/grpo-r1"
  stage pretrain-plain ./sharpseek train --config configs/r1/pretrain.json --set data_dir=$OUT/plain-data --out $OUT/pretrain-plain --plain "${PRE_SET[@]}"
  stage cold-start ./sharpseek sft --config configs/r1/cold-start.json --init-from "$(model_of "$OUT/pretrain-plain")" --set sft.data=$OUT/cold-start.jsonl \
    --out $OUT/cold-start --plain "${SFT_SET[@]}"
  evaluate r1-before "$(model_of "$OUT/cold-start")" r1
  stage grpo-r1 ./sharpseek grpo --config configs/r1/grpo.json --init-from "$(model_of "$OUT/cold-start")" --set grpo.prompts=$OUT/prompts-r1.jsonl \
    --set grpo.eval_prompts=$OUT/test-r1.jsonl --set grpo.prompt_format=chat --set grpo.max_new_tokens=218 --out $OUT/grpo-r1 --plain \
    --set max_steps=$R1_STEPS --set lr_decay_steps=$R1_STEPS "${GRPO_SET[@]}"
  evaluate r1-after "$(model_of "$OUT/grpo-r1")" r1 "$LEVELS" "$(model_of "$OUT/cold-start")"
fi

# ---- head to head from one SFT checkpoint, equal wall-clock budgets ----
if runs h2h; then
  rm -rf "$OUT/h2h-pretrain" "$OUT/h2h-sft" "$OUT/h2h-sft-more" "$OUT/h2h-dpo" "$OUT/h2h-reward" "$OUT/h2h-ppo" "$OUT/h2h-grpo"
  ./sharpseek data tasks --task arithmetic --levels $LEVELS --split train --count $((COLD * 10)) --seed 3 --format sft --out $OUT/h2h-sft.jsonl > /dev/null
  ./sharpseek data tasks --task arithmetic --levels $LEVELS --split train --count $((COLD * 40)) --seed 13 --format sft --out $OUT/h2h-sft-more.jsonl > /dev/null
  stage h2h-pretrain ./sharpseek train --config configs/r1/pretrain.json --set data_dir=$OUT/plain-data --out $OUT/h2h-pretrain --plain "${PRE_SET[@]}"
  stage h2h-sft ./sharpseek sft --config configs/alignment/sft.json --init-from "$(model_of "$OUT/h2h-pretrain")" --set sft.data=$OUT/h2h-sft.jsonl \
    --out $OUT/h2h-sft --plain "${SFT_SET[@]}"
  start_model="$(model_of "$OUT/h2h-sft")"
  evaluate h2h-start "$start_model" plain
  budget=(--set max_minutes=$H2H_MINUTES --set max_steps=100000 --set lr_decay_steps=100000)
  # SFT only: more supervised steps on fresh examples.
  stage h2h-sft-more ./sharpseek sft --config configs/alignment/sft.json --init-from "$start_model" --set sft.data=$OUT/h2h-sft-more.jsonl \
    --set lr=1e-4 --set min_lr=1e-4 --out $OUT/h2h-sft-more --plain "${budget[@]}"
  # DPO and PPO: their budget includes sampling the pairs (and training the reward model); each stage gets what is left.
  t0=$(date +%s)
  stage h2h-pairs ./sharpseek data pairs --model "$start_model" --task arithmetic --levels $LEVELS --split train --count $((PROMPTS / 8)) --samples 8 \
    --temperature 1 --seed 11 --max-pairs-per-prompt 4 --max-new-tokens 200 --out $OUT/h2h-pairs.jsonl --stats $OUT/h2h-pairs.json
  if [ ! -s "$OUT/h2h-pairs.jsonl" ]; then echo "error: the SFT model gave no preference pairs (no prompt with a right and a wrong sample)" >&2; exit 1; fi
  pairs_min=$(awk -v a="$t0" -v b="$(date +%s)" 'BEGIN { printf "%.2f", (b - a) / 60 }')
  left=$(awk -v b="$H2H_MINUTES" -v u="$pairs_min" 'BEGIN { x = b - u; printf "%.2f", x < 0.1 ? 0.1 : x }')
  stage h2h-dpo ./sharpseek dpo --config configs/alignment/dpo.json --init-from "$start_model" --set preference.data=$OUT/h2h-pairs.jsonl \
    --set lr=5e-6 --set min_lr=5e-6 --out $OUT/h2h-dpo --plain --set max_minutes=$left --set max_steps=100000 --set lr_decay_steps=100000
  half=$(awk -v x="$left" 'BEGIN { printf "%.2f", x / 2 }')
  stage h2h-reward ./sharpseek reward --config configs/alignment/reward.json --init-from "$start_model" --set preference.data=$OUT/h2h-pairs.jsonl \
    --out $OUT/h2h-reward --plain --set max_minutes=$half --set max_steps=100000 --set lr_decay_steps=100000
  stage h2h-ppo ./sharpseek ppo --config configs/alignment/ppo.json --init-from "$start_model" --set ppo.prompts=$OUT/prompts-plain.jsonl \
    --reward-model "$(model_of "$OUT/h2h-reward")" --out $OUT/h2h-ppo --plain --set max_minutes=$half --set max_steps=100000 --set lr_decay_steps=100000
  # GRPO with the rule: the SFT model answers "#### n", so the reward is correctness (the final answer), in chat format.
  stage h2h-grpo ./sharpseek grpo --config configs/r1/grpo.json --init-from "$start_model" --set grpo.prompts=$OUT/prompts-plain.jsonl \
    --set grpo.eval_prompts=$OUT/test-plain.jsonl --set grpo.prompt_format=chat --set grpo.max_new_tokens=218 --set 'grpo.rewards={"correctness":1.0}' \
    --out $OUT/h2h-grpo --plain "${budget[@]}"
  for m in sft-more dpo ppo grpo; do evaluate "h2h-$m" "$(model_of "$OUT/h2h-$m")" plain "$LEVELS" "$start_model"; done
fi
# GRPO again from the same start with settings for a fine-tuned model (lr 2e-5, k3 capped at 10), same budget.
if runs h2h || [ "$part" = h2h-grpo ]; then
  start_model="$(model_of "$OUT/h2h-sft")"
  rm -rf "$OUT/h2h-grpo-tuned"
  stage h2h-grpo-tuned ./sharpseek grpo --config configs/r1/grpo.json --init-from "$start_model" --set grpo.prompts=$OUT/prompts-plain.jsonl \
    --set grpo.eval_prompts=$OUT/test-plain.jsonl --set grpo.prompt_format=chat --set grpo.max_new_tokens=218 --set 'grpo.rewards={"correctness":1.0}' \
    --set lr=2e-5 --set min_lr=2e-5 --set grpo.k3_clamp=10 --out $OUT/h2h-grpo-tuned --plain --set max_minutes=$H2H_MINUTES --set max_steps=100000 --set lr_decay_steps=100000
  evaluate h2h-grpo-tuned "$(model_of "$OUT/h2h-grpo-tuned")" plain "$LEVELS" "$start_model"
fi

# ---- R1-distill: the GRPO teacher's checked solutions vs the dataset's plain answers, for a smaller student ----
if runs distill; then
  teacher="$(model_of "$OUT/grpo-zero")"
  [ -n "$teacher" ] || { echo "error: --part distill needs the R1-Zero GRPO model: run --part zero first" >&2; exit 1; }
  ./sharpseek data tasks --task arithmetic --levels $LEVELS --split train --count $TRACE_PROMPTS --seed 21 --distinct --format prompts --template r1 --out $OUT/trace-prompts.jsonl > /dev/null
  ./sharpseek data tasks --task arithmetic --levels $LEVELS --split train --count $TRACE_PROMPTS --seed 21 --distinct --format sft --template r1 --completion answer --out $OUT/answers.jsonl > /dev/null
  traces=(./sharpseek data traces --model "$teacher" --prompts $OUT/trace-prompts.jsonl --samples 4 --temperature 0.7 --seed 1 --batch-size 64
    --out $OUT/traces.jsonl --stats $OUT/traces.json)
  if [ "$quick" = 1 ]; then   # the quick run's untrained teacher solves nothing: smoke-test the rest on the answers file
    "${traces[@]}" > "$OUT/traces.log" 2>&1 || cp "$OUT/answers.jsonl" "$OUT/traces.jsonl"
  else
    stage traces "${traces[@]}"
  fi
  evaluate distill-teacher "$teacher" r1
  rm -rf "$OUT/student-base"
  stage student-base ./sharpseek train --config configs/r1/pretrain.json --set data_dir=$OUT/data --set n_layer=3 --set n_embd=96 --set n_head=4 \
    --out $OUT/student-base --plain "${PRE_SET[@]}"
  evaluate student-base "$(model_of "$OUT/student-base")" r1
  for seed in $DISTILL_SEEDS; do
    for arm in traces answers; do
      rm -rf "$OUT/student-$arm-$seed"
      stage "student-$arm-$seed" ./sharpseek sft --config configs/r1/cold-start.json --init-from "$(model_of "$OUT/student-base")" \
        --set sft.data=$OUT/$arm.jsonl --set seed=$seed --out $OUT/student-$arm-$seed --plain "${SFT_SET[@]}"
      evaluate "student-$arm-$seed" "$(model_of "$OUT/student-$arm-$seed")" r1
      # the same with twice the SFT steps (600)
      rm -rf "$OUT/student600-$arm-$seed"
      stage "student600-$arm-$seed" ./sharpseek sft --config configs/r1/cold-start.json --init-from "$(model_of "$OUT/student-base")" \
        --set sft.data=$OUT/$arm.jsonl --set seed=$seed --set max_steps=600 --set lr_decay_steps=600 --out $OUT/student600-$arm-$seed --plain "${SFT_SET[@]}"
      evaluate "student600-$arm-$seed" "$(model_of "$OUT/student600-$arm-$seed")" r1
    done
  done
fi

end=$(date +%s.%N)
printf 'end\t%s\t%s\n' "$end" "$(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/run-$part.tsv"
command="bench/r1.sh --part $part"; [ "$quick" = 1 ] && command="$command --quick"
if [ "$quick" = 0 ]; then
  for r in pretrain-r1:zero-pretrain grpo-zero:zero-grpo grpo-curriculum:curriculum grpo-final-mix:final-mix cold-start:r1-cold-start grpo-r1:r1-grpo; do
    src="${r%%:*}"; dst="${r##*:}"
    if [ -f "$OUT/$src/grpo.png" ]; then cp "$OUT/$src/grpo.png" "docs/r1-$dst.png"
    elif [ -f "$OUT/$src/loss.png" ]; then cp "$OUT/$src/loss.png" "docs/r1-$dst-loss.png"; fi
  done
fi
python3 bench/r1_results.py "$OUT" "$RESULTS" "$command" "$quick"
if [ -n "$DOCS_RESULTS" ]; then cp "$RESULTS" "$DOCS_RESULTS"; fi
log "wrote $RESULTS${DOCS_RESULTS:+ and $DOCS_RESULTS}"
