#!/usr/bin/env bash
# Seventh session (2026-11-29), call 1, on two GPUs of one host (nvidia-h200-x2).
# GPU 0: the two unmeasured speed changes of the sixth session (the map's download overlapping the
# host's labelling; the tile maps stitched by one index_add_) profiled and `aoi bench`ed on 2448×2048
# frames, tiled and in one pass; then the `fusion` model (PatchCore + SIDN) trained with its defaults,
# evaluated and benchmarked.
# GPU 1: NDP-Net's long run, part 1 — a 1,350-s schedule (300 + 600 epochs planned, the time box binds)
# that stops after NDP_SECS and is returned (keep_model) to be resumed in the next call with
# `bash benchmarks/gpu_ndp_resume.sh`.
# Results go to $OUT/results.tgz after every step.
# Usage (repo root, device machine): bash benchmarks/gpu_s7_call1.sh OUT [NDP_SECS]
set -uo pipefail
OUT=$1; NDP_SECS=${2:-470}
source benchmarks/gpu_setup.sh  # also sets R, pack, T, DATA, M, patchcore_5mp, keep_model
echo "start $(date +%T), $(nvidia-smi -L | wc -l) GPU(s)" | tee -a $R/driver.log
(
  export CUDA_VISIBLE_DEVICES=1
  $M train --model ndpnet --data $DATA --out runs/ndp_long --device cuda --epochs 300 --phase2-epochs 600 \
    --max-seconds 1350 --workers 12 --stop-after "$NDP_SECS" > $R/ndp_long_train_c1.log 2>&1
  echo "exit $?" >> $R/ndp_long_train_c1.log
  cp runs/ndp_long/model.json $R/ndp_long_model_${T}_c1.json; pack; keep_model ndp_long
  echo "ndp_long part 1 saved $(date +%T)" | tee -a $R/driver.log
  $M eval --model-dir runs/ndp_long --data $DATA --device cuda --json $R/ndp_long_eval_${T}_c1.json \
    > $R/ndp_long_eval_c1.log 2>&1; pack
  echo "ndp_long part 1 evaluated $(date +%T)" | tee -a $R/driver.log
) &
export CUDA_VISIBLE_DEVICES=0
patchcore_5mp s7  # gpu_setup.sh: fit, device-post profile, 2448×2048 benches
echo "benchmarked $(date +%T)" | tee -a $R/driver.log
$M train --model fusion --data $DATA --out runs/fusion --device cuda > $R/fusion_train.log 2>&1
echo "exit $?" >> $R/fusion_train.log; cp runs/fusion/model.json $R/fusion_model_${T}_s7.json
$M eval --model-dir runs/fusion --data $DATA --device cuda --json $R/fusion_eval_${T}_s7.json > $R/fusion_eval.log 2>&1; pack
$M bench --model-dir runs/fusion --device cuda --sizes 256,2448x2048 --batch 1,32 --iters 50 --frames-from $DATA \
  --json $R/fusion_bench_${T}_s7.json > $R/fusion_bench.log 2>&1; pack
echo "fusion done $(date +%T)" | tee -a $R/driver.log
wait; pack
echo "done $(date +%T)" | tee -a $R/driver.log
tail -n 12 $R/fusion_eval.log $R/ndp_long_eval_c1.log; tail -c 600 $R/ndp_long_train_c1.log; cut -c1-400 $R/devpost.log
for f in $R/patchcore_bench_*_s7.json $R/fusion_bench_${T}_s7.json; do
  python3 - "$f" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    print(r["case"], round(r["median_ms"], 2), r.get("stages_ms", ""), r.get("defects", ""))
PY
done
ls -la $OUT
