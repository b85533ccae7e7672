#!/usr/bin/env bash
# One GPU call (2026-11-29, fourth session): SIDN's input size, fills and precision as a small grid
# trained side by side, and BFDF continued from an earlier model (INIT=dir, carried), all until a
# deadline; then every model evaluated and benchmarked alone. Results go to $OUT/results.tgz after
# every step, so a call cut short still returns what was done.
# Usage (repo root, device machine): [INIT=.out/init/bfdf] bash benchmarks/gpu_sidn_grid.sh OUT TRAIN_SECONDS
set -uo pipefail
OUT=$1; SECS=$2
R=/tmp/results; mkdir -p $R runs
pack() { tar czf "$OUT/results.tgz" -C $R . 2>/dev/null; }
source benchmarks/gpu_setup.sh
T=$GPU_TAG; DATA=.data/magnetic_tile; M="python3 -m inspection_core"
MIXED="--fills noise,shift,foreign --blend-max 0.5"
declare -A RUNS=(
  [sidn128_mixed]="--model sidn --image-size 128 --lr 3e-4 $MIXED"
  [sidn128_mixed_fp32]="--model sidn --image-size 128 --lr 3e-4 $MIXED --amp false"
  [sidn256_mixed]="--model sidn --lr 3e-4 $MIXED"
  [sidn128_noise]="--model sidn --image-size 128 --lr 3e-4"
)
echo "grid: train $SECS s, start $(date +%T)" | tee -a $R/driver.log
for name in "${!RUNS[@]}"; do
  # shellcheck disable=SC2086
  ( $M train ${RUNS[$name]} --epochs 100000 --workers 2 --data $DATA --out runs/$name --device cuda \
      --max-seconds "$SECS" > $R/${name}_train.log 2>&1
    echo "exit $?" >> $R/${name}_train.log; cp runs/$name/model.json $R/${name}_model_$T.json 2>/dev/null ) &
done
if [ -n "${INIT:-}" ]; then
  ( $M train --model bfdf --steps 60000 --batch-size 16 --workers 4 --data $DATA --out runs/bfdf \
      --device cuda --max-seconds "$SECS" --init-from "$INIT" > $R/bfdf_train.log 2>&1
    echo "exit $?" >> $R/bfdf_train.log; cp runs/bfdf/model.json $R/bfdf_model_$T.json 2>/dev/null ) &
fi
wait; pack; echo "trained $(date +%T)" >> $R/driver.log
for d in runs/*/; do
  name=$(basename "$d")
  $M eval --model-dir runs/$name --data $DATA --device cuda --json $R/${name}_eval_$T.json > $R/${name}_eval.log 2>&1 &
done
wait; pack; echo "evaluated $(date +%T)" >> $R/driver.log
[ -d runs/bfdf ] && tar czf "$OUT/model_bfdf.tgz" -C runs bfdf
for d in runs/*/; do  # one at a time: latency needs the GPU alone
  name=$(basename "$d")
  sizes=256; [[ $name == *128* ]] && sizes=128,256
  timeout 40 $M bench --model-dir runs/$name --device cuda --sizes $sizes --batch 1,32 --iters 30 \
    --json $R/${name}_bench_$T.json > $R/${name}_bench.log 2>&1; pack
done
echo "benchmarked $(date +%T)" >> $R/driver.log
python3 - <<'PY'
import glob, json
for f in sorted(glob.glob("/tmp/results/*_eval_*.json")):
    d = json.load(open(f))
    print(f.split("/")[-1], round(d["image_auroc"], 3), round(d["pixel_auroc"], 3), round(d["aupro"], 3))
PY
cat $R/driver.log
