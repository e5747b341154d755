#!/usr/bin/env bash
# bench/deepseek-speed.sh BEFORE_TREE AFTER_TREE: DeepSeek training tokens/s of two checkouts (e.g. a worktree of an older commit and this one), fp32 and bf16,
# alternating, twice; median tok/s over the logged windows after step 20. Data: $DATA or data/shakespeare-char (bench/shakespeare.sh prepares it).
set -u
export OMP_WAIT_POLICY=PASSIVE
data="${DATA:-$(pwd)/data/shakespeare-char}"
run() { # tree precision tag extra...
  local tree=$1 prec=$2 tag=$3; shift 3
  local out=/tmp/dsb-$tag-$prec-$(basename $tree); rm -rf $out
  (cd $tree && ./sharpseek train --config configs/train-deepseek-shakespeare-char.json --plain --set max_steps=80 --set log_interval=10 --set eval_interval=1000 \
     --set data_dir=$data --set precision=$prec --set out_dir=$out "$@" >/dev/null 2>&1)
  python3 -c "
import json,statistics
r=[json.loads(l) for l in open('$out/metrics.jsonl')]
v=[x['tokens_per_s'] for x in r if x.get('tokens_per_s') and x['step']>20]
print('$tag', '$prec', '$(basename $tree)', round(statistics.median(v)))"
}
for rep in 1 2; do
  for tag in shipped wide; do
    extra=(); [ $tag = wide ] && extra=(--set n_embd=256 --set n_head=8 --set block_size=128)
    for prec in fp32 bf16; do
      run "$1" $prec $tag "${extra[@]}"
      run "$2" $prec $tag "${extra[@]}"
    done
  done
done
