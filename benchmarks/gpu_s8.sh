#!/usr/bin/env bash
# Eighth session (2026-11-29): NDP-Net, two long schedules at batch 32 side by side on the two GPUs of
# one host (nvidia-h200-x2), paused with --stop-after every call and resumed in the next call from the
# model the previous call returned (carried as .out/carry/model_NAME.tgz, bf16 weights).
#   GPU 1 "ndp_b32":  the defaults at batch 32 (lr 4e-4), 600 + 1,500 epochs planned, 1,250-s time box
#   GPU 0 "ndp_b32s": the same plus the shade fill one draw in seven
# Evaluates when the test split is there (call 1 carries the whole dataset; later calls carry only
# train/ to leave room for the two models: their final evaluation can run on any machine), and
# benchmarks a model whose schedule is finished.
# Usage (repo root, device machine): bash benchmarks/gpu_s8.sh OUT PART SECS
set -uo pipefail
OUT=$1; PART=$2; SECS=$3
source benchmarks/gpu_setup.sh  # also sets R, pack, T, DATA, M, keep_model, after_part
echo "start $(date +%T), $(nvidia-smi -L | wc -l) GPU(s), part $PART, test split: $(ls -d $DATA/test 2>/dev/null)" \
  | tee -a $R/driver.log
COMMON=(--batch-size 32 --lr 4e-4 --epochs 600 --phase2-epochs 1500 --max-seconds 1250 --workers 12)

variant() {  # NAME GPU [extra model options for a fresh start]
  local name=$1 from=.out/carry/model_$1.tgz log=$R/${1}_train_$PART.log
  export CUDA_VISIBLE_DEVICES=$2; shift 2
  if [ -f "$from" ]; then
    mkdir -p "/tmp/resume_$name" && tar xzf "$from" -C "/tmp/resume_$name"
    $M train --resume "/tmp/resume_$name/$name" --data $DATA --out "runs/$name" --device cuda \
      --stop-after "$SECS" > "$log" 2>&1
  else
    $M train --model ndpnet --data $DATA --out "runs/$name" --device cuda "${COMMON[@]}" "$@" \
      --stop-after "$SECS" > "$log" 2>&1
  fi
  echo "exit $?" >> "$log"
  after_part "$name" "$PART"
}

variant ndp_b32s 0 --fills noise,shift,foreign,noise,shift,foreign,shade &
variant ndp_b32 1
wait; pack
echo "done $(date +%T)" | tee -a $R/driver.log
for f in $R/*_eval_*.log; do echo "== $f"; tail -n 14 "$f"; done
tail -c 400 $R/*_train_$PART.log; ls -la $OUT
