#!/usr/bin/env bash
# bench/alignment.sh [--quick]: the GPT-style alignment pipeline of issue #10 on one verifiable task (2–3-digit addition and
# subtraction, answers checked by rule), as CLI calls, each stage timed:
#   tasks data → pretrain (byte-level GPT-2, plain text) → full SFT and LoRA SFT (chat) → self-sampled preference pairs
#   (correct = chosen, wrong = rejected) → reward model → PPO with that reward model → DPO on the same pairs → evaluations.
# Writes bench/results/alignment-gpt.json and docs/results/alignment-gpt.json (fields: sft_accuracy, ppo_accuracy,
# dpo_accuracy, reward_model_pair_accuracy, ppo_mean_kl, lora_vs_full_sft_loss_ratio, wall_minutes, command, and per stage
# minutes and sources) and copies the loss plots to docs/alignment-*.png. --quick: a tiny smoke run (~2–3 min, numbers
# meaningless). Results come from files (eval --json, data pairs --stats, each run's metrics.jsonl), not from log text.
# A stage whose verb this checkout lacks (sft, reward, dpo, ppo) is skipped and recorded as skipped; later stages then
# start from the last model that exists. Settings below; configs/alignment/*.json hold the training hyper-parameters.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
quick=0
for a in "$@"; do
  case "$a" in
    --quick) quick=1 ;;
    *) echo "error: unknown argument '$a' (usage: bench/alignment.sh [--quick])" >&2; exit 2 ;;
  esac
done
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"

# ---- settings (accuracies are on EVAL_COUNT fixed held-out test prompts; levels 2,3 of the arithmetic task) ----
LEVELS=2,3
if [ "$quick" = 1 ]; then
  OUT=out/alignment-quick; RESULTS=bench/results/alignment-gpt-quick.json; DOCS_RESULTS=""
  PRETRAIN_EXAMPLES=2000; SFT_EXAMPLES=200; PPO_PROMPTS=64; PAIR_PROMPTS=16; PAIR_TEST_PROMPTS=16; EVAL_COUNT=16; SAMPLES=4
  PRE_SET=(--set max_steps=30 --set lr_decay_steps=30 --set warmup_steps=5 --set eval_interval=30 --set eval_iters=2 --set batch_size=8)
  STAGE_SET=(--set max_steps=6 --set lr_decay_steps=6 --set warmup_steps=1 --set eval_interval=6 --set eval_iters=2)
else
  OUT=out/alignment; RESULTS=bench/results/alignment-gpt.json; DOCS_RESULTS=docs/results/alignment-gpt.json
  PRETRAIN_EXAMPLES=40000; SFT_EXAMPLES=4000; PPO_PROMPTS=2000; PAIR_PROMPTS=600; PAIR_TEST_PROMPTS=200; EVAL_COUNT=400; SAMPLES=8
  PRE_SET=(); STAGE_SET=()
fi
LORA_SET=()   # the adapters are in configs/alignment/sft-lora.json (r 8, alpha 8, c_attn + c_fc: 4.1% of the parameters)
# Config keys of the alignment verbs (from issue #10's interfaces); the held-out pair file is the reward model's validation set.
RM_VAL_KEY="${RM_VAL_KEY:-preference.val_data}"

mkdir -p "$OUT" bench/results docs/results
times="$OUT/stage-times.tsv"; : > "$times"
log() { echo "== $*" >&2; }
verbs="$(./sharpseek --help 2>/dev/null | sed -n '/^Commands:/,$p' | awk 'NR > 1 { print $1 }')"
has_verb() { grep -qx "$1" <<<"$verbs"; }
# The newest checkpoint folder of a training run (or the folder itself when it holds a model).
model_of() { if [ -f "$1/config.json" ]; then echo "$1"; else ls -d "$1"/ckpt-* 2>/dev/null | sort | tail -n 1; fi; }
# stage NAME COMMAND…: runs and times one stage (stdout and stderr to $OUT/NAME.log), records "NAME seconds command".
stage() {
  local name="$1"; shift
  log "$name: $*"
  local t0; t0=$(date +%s.%N)
  "$@" > "$OUT/$name.log" 2>&1 || { echo "error: stage $name failed (see $OUT/$name.log):" >&2; tail -n 5 "$OUT/$name.log" >&2; exit 1; }
  printf '%s\t%s\t%s\n' "$name" "$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')" "$(tr -s '\n ' '  ' <<<"$*")" >> "$times"
  tail -n 1 "$OUT/$name.log" >&2
}
skip() { printf '%s\tskipped\t%s\n' "$1" "$2" >> "$times"; log "$1: skipped ($2)"; }
# evaluate NAME MODEL: greedy and temperature-1 sampled held-out accuracy, JSON per example.
evaluate() {
  stage "eval-$1-greedy" ./sharpseek eval --model "$2" --task arithmetic --levels $LEVELS --count $EVAL_COUNT --json "$OUT/eval-$1-greedy.json"
  stage "eval-$1-sampled" ./sharpseek eval --model "$2" --task arithmetic --levels $LEVELS --count $EVAL_COUNT --sample --temperature 1 --seed 1 --json "$OUT/eval-$1-sampled.json"
}

start=$(date +%s.%N)
load_start="$(cut -d' ' -f1-3 /proc/loadavg)"

# ---- 1. data: byte tokenizer, pretraining text (train split), SFT chat JSONL (train split), PPO prompts (train split) ----
rm -rf "$OUT/tokenizer" "$OUT/data"
stage data \
  bash -c "./sharpseek init --arch gpt2 --preset tiny --set vocab_size=257 --tokenizer byte --out $OUT/tokenizer &&
    ./sharpseek data tasks --task arithmetic --levels $LEVELS --split train --count $PRETRAIN_EXAMPLES --seed 1 --format text --out $OUT/pretrain.txt &&
    ./sharpseek data prepare --input $OUT/pretrain.txt --tokenizer $OUT/tokenizer --out $OUT/data &&
    ./sharpseek data tasks --task arithmetic --levels $LEVELS --split train --count $SFT_EXAMPLES --seed 3 --format sft --out $OUT/sft.jsonl &&
    ./sharpseek data tasks --task arithmetic --levels $LEVELS --split train --count $PPO_PROMPTS --seed 4 --distinct --format prompts --out $OUT/ppo-prompts.jsonl &&
    ./sharpseek data tasks --task arithmetic --levels $LEVELS --split test --count $EVAL_COUNT --format prompts --out $OUT/test-prompts.jsonl"

# ---- 2. pretrain on plain task text ----
rm -rf "$OUT/pretrain"
stage pretrain ./sharpseek train --config configs/alignment/pretrain.json --set data_dir=$OUT/data --out $OUT/pretrain --plain "${PRE_SET[@]}"
policy="$(model_of "$OUT/pretrain")"
evaluate pretrain "$policy"

# ---- 3. full SFT and LoRA SFT (chat format; loss on assistant tokens) ----
sft_model=""
if has_verb sft; then
  rm -rf "$OUT/sft" "$OUT/sft-lora"
  stage sft ./sharpseek sft --config configs/alignment/sft.json --init-from "$policy" --set sft.data=$OUT/sft.jsonl --out $OUT/sft --plain "${STAGE_SET[@]}"
  stage sft-lora ./sharpseek sft --config configs/alignment/sft-lora.json --init-from "$policy" --set sft.data=$OUT/sft.jsonl --out $OUT/sft-lora --plain "${LORA_SET[@]}" "${STAGE_SET[@]}"
  sft_model="$(model_of "$OUT/sft")"; policy="$sft_model"
  evaluate sft "$sft_model"
else
  skip sft "no sft verb in this checkout"; skip sft-lora "no sft verb in this checkout"
fi

# ---- 4. preference pairs from the policy's own samples: train prompts for training, held-out test prompts for RM accuracy ----
stage pairs ./sharpseek data pairs --model "$policy" --task arithmetic --levels $LEVELS --split train --count $PAIR_PROMPTS --samples $SAMPLES \
  --temperature 1 --seed 11 --max-pairs-per-prompt 4 --max-new-tokens 200 --out $OUT/pairs-train.jsonl --stats $OUT/pairs-train.json
stage pairs-test ./sharpseek data pairs --model "$policy" --task arithmetic --levels $LEVELS --split test --count $PAIR_TEST_PROMPTS --samples $SAMPLES \
  --temperature 1 --seed 12 --max-pairs-per-prompt 4 --max-new-tokens 200 --out $OUT/pairs-test.jsonl --stats $OUT/pairs-test.json

# ---- 5. reward model (Bradley–Terry), 6. PPO with it, 7. DPO on the same pairs ----
rm_model=""
pairs_ok=1; [ -s "$OUT/pairs-train.jsonl" ] || pairs_ok=0   # a model that never answers right (the --quick one) gives no pairs
if has_verb reward && [ "$pairs_ok" = 1 ]; then
  rm -rf "$OUT/reward"
  stage reward ./sharpseek reward --config configs/alignment/reward.json --init-from "$policy" --set preference.data=$OUT/pairs-train.jsonl \
    --set "$RM_VAL_KEY=$OUT/pairs-test.jsonl" --out $OUT/reward --plain "${STAGE_SET[@]}"
  rm_model="$(model_of "$OUT/reward")"
else
  skip reward "no reward verb in this checkout, or no preference pairs"
fi
if has_verb ppo && [ -n "$rm_model" ]; then
  rm -rf "$OUT/ppo"
  stage ppo ./sharpseek ppo --config configs/alignment/ppo.json --init-from "$policy" --set ppo.prompts=$OUT/ppo-prompts.jsonl \
    --reward-model "$rm_model" --out $OUT/ppo --plain "${STAGE_SET[@]}"
  evaluate ppo "$(model_of "$OUT/ppo")"
else
  skip ppo "no ppo verb or no reward model"
fi
if has_verb dpo && [ "$pairs_ok" = 1 ]; then
  rm -rf "$OUT/dpo"
  stage dpo ./sharpseek dpo --config configs/alignment/dpo.json --init-from "$policy" --set preference.data=$OUT/pairs-train.jsonl --out $OUT/dpo --plain "${STAGE_SET[@]}"
  evaluate dpo "$(model_of "$OUT/dpo")"
else
  skip dpo "no dpo verb in this checkout, or no preference pairs"
fi

end=$(date +%s.%N)
load_end="$(cut -d' ' -f1-3 /proc/loadavg)"
command="bench/alignment.sh"; if [ "$quick" = 1 ]; then command="$command --quick"; fi

# ---- plots and results ----
for s in pretrain sft sft-lora reward ppo dpo; do
  if [ "$quick" = 0 ] && [ -f "$OUT/$s/loss.png" ]; then cp "$OUT/$s/loss.png" "docs/alignment-$s.png"; fi
done
python3 bench/alignment_results.py "$OUT" "$RESULTS" "$command" "$start" "$end" "$load_start" "$load_end" "$quick"
if [ -n "$DOCS_RESULTS" ]; then cp "$RESULTS" "$DOCS_RESULTS"; fi
log "wrote $RESULTS${DOCS_RESULTS:+ and $DOCS_RESULTS}"
