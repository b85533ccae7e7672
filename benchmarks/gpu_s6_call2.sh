#!/usr/bin/env bash
# One GPU call (2026-11-29, sixth session): PatchCore's default fitted, then, with the GPU to itself,
# `aoi bench` on 256² and 2448×2048 frames (post-processing on the device vs on the host) and the device
# post-processing's profile; then SIDN's defaults and SIDN with the shade fill one draw in seven trained
# side by side for the same number of steps, evaluated, and each fused with PatchCore.
# Results go to $OUT/results.tgz after every step.
# Usage (repo root, device machine): bash benchmarks/gpu_s6_call2.sh OUT
set -uo pipefail
OUT=$1
source benchmarks/gpu_setup.sh  # also sets R, pack, T, DATA, M
echo "start $(date +%T)" | tee -a $R/driver.log
$M train --model patchcore --data $DATA --out runs/patchcore --device cuda > $R/patchcore_train.log 2>&1
cp runs/patchcore/model.json $R/patchcore_model_${T}_s6.json
$M bench --model-dir runs/patchcore --device cuda --sizes 256,2448x2048 --batch 1,32 --iters 50 \
  --frames-from $DATA --json $R/patchcore_bench_${T}_s6.json > $R/patchcore_bench.log 2>&1; pack
(cd benchmarks && python3 profile_device_post.py --model-dir ../runs/patchcore --device cuda \
  --frames-from ../$DATA --out $R/patchcore_devpost_${T}_s6.json > $R/devpost.log 2>&1); pack
echo "benchmarked $(date +%T)" | tee -a $R/driver.log
SHADE7=noise,shift,foreign,noise,shift,foreign,shade
for v in sidn_def: sidn_shade7:"--fills $SHADE7"; do
  name=${v%%:*}; opts=${v#*:}
  # shellcheck disable=SC2086
  ( $M train --model sidn $opts --workers 6 --max-seconds 330 --data $DATA --out runs/$name --device cuda \
      > $R/${name}_train.log 2>&1; echo "exit $?" >> $R/${name}_train.log
    cp runs/$name/model.json $R/${name}_model_${T}_s6.json
    $M eval --model-dir runs/$name --data $DATA --device cuda --json $R/${name}_eval_${T}_s6.json > $R/${name}_eval.log 2>&1 ) &
done
wait; pack; echo "trained $(date +%T)" | tee -a $R/driver.log
for name in sidn_def sidn_shade7; do
  (cd benchmarks && python3 ensemble_experiment.py --model-dirs ../runs/patchcore ../runs/$name --data ../$DATA \
    --device cuda --out $R/ensemble_patchcore_${name}_${T}_s6.json > $R/ensemble_$name.log 2>&1); pack
done
echo "done $(date +%T)" | tee -a $R/driver.log
tail -n 3 $R/*_eval.log $R/ensemble_*.log $R/devpost.log
python3 - "$R/patchcore_bench_${T}_s6.json" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    print(r["case"], round(r["median_ms"], 2), r.get("stages_ms", ""), r.get("defects", ""))
PY
