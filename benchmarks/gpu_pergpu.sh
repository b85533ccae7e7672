#!/usr/bin/env bash
# One model per GPU, all GPUs at once: each GPU trains its model alone (time-boxed), then evaluates
# and benchmarks it. Results are packed into $OUT/results.tgz whenever a step finishes, so a call cut
# short still returns what was done.
# Usage (repo root, device machine): bash benchmarks/gpu_pergpu.sh OUT SECONDS NAME:MODEL:"OPTIONS" ...
# The i-th spec runs on GPU i mod (number of GPUs); specs sharing a GPU run one after another.
# A spec whose NAME ends in "+nn1" also evaluates a copy with `neighbours` = 1 (SCL-VI ablation).
# KEEP_MODELS=1 also returns each trained model folder as $OUT/model_NAME.tgz (over the 16-MiB file
# limit: bf16 weights in 15-MB parts, see keep_model in gpu_setup.sh), to continue its training in a
# later call: carry it unpacked and add `--init-from DIR` to the spec's options.
set -uo pipefail
OUT=$1; SECS=$2; shift 2
source benchmarks/gpu_setup.sh  # also sets R, pack, T, DATA, M
DEV=${DEV:-cuda}
NGPU=$(nvidia-smi -L | wc -l)
echo "$NGPU GPU(s), train budget $SECS s per model, start $(date +%T)" | tee $R/driver.log
chain() {  # train → eval → bench one model on one GPU
  local gpu=$1 name=$2 model=$3 opts=$4 ablate=$5
  export CUDA_VISIBLE_DEVICES=$gpu
  # shellcheck disable=SC2086
  $M train --model "$model" --data $DATA --out runs/$name --device $DEV --max-seconds "$SECS" $opts \
    > $R/${name}_train.log 2>&1; echo "exit $?" >> $R/${name}_train.log
  cp runs/$name/model.json $R/${name}_model_$T.json 2>/dev/null; pack
  [ "${KEEP_MODELS:-0}" = 1 ] && [ -d runs/$name ] && keep_model "$name"  # gpu_setup.sh
  echo "$name trained on GPU $gpu $(date +%T)" >> $R/driver.log
  $M eval --model-dir runs/$name --data $DATA --device $DEV --json $R/${name}_eval_$T.json > $R/${name}_eval.log 2>&1; pack
  if [ "$ablate" = 1 ]; then
    cp -r runs/$name runs/${name}_nn1
    python3 -c "import json,pathlib; p=pathlib.Path('runs/${name}_nn1/model.json'); d=json.loads(p.read_text()); d['config']['neighbours']=1; p.write_text(json.dumps(d))"
    $M eval --model-dir runs/${name}_nn1 --data $DATA --device $DEV --json $R/${name}_nn1_eval_$T.json > $R/${name}_nn1_eval.log 2>&1; pack
  fi
  timeout 90 $M bench --model-dir runs/$name --device $DEV --sizes 256 --batch 1,32 --iters 50 \
    --json $R/${name}_bench_$T.json > $R/${name}_bench.log 2>&1; pack
  echo "$name done $(date +%T)" >> $R/driver.log
}
i=0; declare -A queue
for spec in "$@"; do
  name=${spec%%:*}; rest=${spec#*:}; model=${rest%%:*}; opts=""; [ "$rest" != "$model" ] && opts=${rest#*:}
  ablate=0; [[ $name == *+nn1 ]] && { ablate=1; name=${name%+nn1}; }
  g=$((i % NGPU)); queue[$g]+="$name|$model|$opts|$ablate;"; i=$((i + 1))
done
for g in "${!queue[@]}"; do
  ( IFS=';' read -ra jobs <<< "${queue[$g]}"
    for job in "${jobs[@]}"; do
      IFS='|' read -r name model opts ablate <<< "$job"; chain "$g" "$name" "$model" "$opts" "$ablate"
    done ) &
done
wait; pack
echo "all done $(date +%T)" | tee -a $R/driver.log
