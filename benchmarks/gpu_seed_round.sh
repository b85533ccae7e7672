#!/usr/bin/env bash
# The four seed models trained side by side on one GPU until a deadline, each continuing from the model
# a previous call left in runs/NAME on the same (still warm) machine (`aoi train --init-from`), so a
# schedule can span several calls. Then (EVAL=1) all four evaluated, SCL-VI also with η = 1 and with
# a stride-8 scan; (BENCH=1) each benchmarked alone on the GPU. Results go to $OUT/results.tgz after
# every step, so a call cut short still returns what was done.
# Usage (repo root, device machine): [EVAL=1] [BENCH=1] bash benchmarks/gpu_seed_round.sh OUT TRAIN_SECONDS
set -uo pipefail
OUT=$1; SECS=$2
source benchmarks/gpu_setup.sh  # also sets R, pack, T, DATA, M
declare -A OPTS=(
  [ndpnet]="--epochs 200 --phase2-epochs 400 --lr 3e-4 --workers 4"
  [sidn]="--epochs 300 --workers 4"
  [sclvi]="--epochs 300 --steps-per-epoch 100 --batch-size 64 --lr 3e-4"
  [bfdf]="--steps 60000 --batch-size 16 --workers 4"
)
echo "seed round: train $SECS s, start $(date +%T)" | tee -a $R/driver.log
if [ "$SECS" -gt 0 ]; then
  for name in ndpnet sidn sclvi bfdf; do
    ( init=""
      if [ -f runs/$name/model.json ]; then rm -rf runs/${name}_prev; mv runs/$name runs/${name}_prev; init="--init-from runs/${name}_prev"; fi
      # shellcheck disable=SC2086
      $M train --model $name --data $DATA --out runs/$name --device cuda --max-seconds "$SECS" ${OPTS[$name]} $init \
        >> $R/${name}_train.log 2>&1
      st=$?; echo "exit $st" >> $R/${name}_train.log
      # a failed continuation must not lose the earlier model
      [ $st -ne 0 ] && [ -d runs/${name}_prev ] && [ ! -f runs/$name/model.json ] && mv runs/${name}_prev runs/$name
      cp runs/$name/model.json $R/${name}_model_$T.json 2>/dev/null
      echo "$name trained $(date +%T)" >> $R/driver.log ) &
  done
  wait; pack
fi
if [ "${EVAL:-0}" = 1 ]; then
  rm -rf runs/sclvi_nn1 runs/sclvi_s8; cp -r runs/sclvi runs/sclvi_nn1; cp -r runs/sclvi runs/sclvi_s8
  python3 - <<'EOF'
import json, pathlib
for name, key, val in (("sclvi_nn1", "neighbours", 1), ("sclvi_s8", "stride_32", 8)):
    p = pathlib.Path("runs", name, "model.json"); d = json.loads(p.read_text()); d["config"][key] = val
    p.write_text(json.dumps(d))
EOF
  for name in ndpnet sidn sclvi bfdf sclvi_nn1 sclvi_s8; do
    $M eval --model-dir runs/$name --data $DATA --device cuda --json $R/${name}_eval_$T.json > $R/${name}_eval.log 2>&1 &
  done
  wait; pack; echo "evaluated $(date +%T)" >> $R/driver.log
  # the one seed model small enough to come back (16-MiB file limit): continue it in a later session
  tar czf "$OUT/model_bfdf.tgz" -C runs bfdf
fi
if [ "${BENCH:-0}" = 1 ]; then
  for name in bfdf sclvi sclvi_s8 ndpnet sidn; do  # one at a time: latency needs the GPU alone
    timeout 50 $M bench --model-dir runs/$name --device cuda --sizes 256 --batch 1,32 --iters 30 \
      --json $R/${name}_bench_$T.json > $R/${name}_bench.log 2>&1; pack
  done
  timeout 60 python3 benchmarks/profile_sclvi.py --model-dir runs/sclvi --out $R/sclvi_profile_$T.json > $R/sclvi_profile.log 2>&1
  pack; echo "benchmarked $(date +%T)" >> $R/driver.log
fi
cat $R/driver.log
