#!/usr/bin/env bash
# Prepared in the sixth session (2026-11-29) for the next GPU session, not run yet: the two unmeasured
# speed changes of that session (the map's download overlapping the host's labelling; the tile maps
# stitched by one index_add_) profiled and `aoi bench`ed on 2448×2048 frames, tiled and in one pass;
# then the `fusion` model (PatchCore + SIDN) trained with its defaults, evaluated and benchmarked.
# Results go to $OUT/results.tgz after every step.
# Usage (repo root, device machine): bash benchmarks/gpu_s7_call1.sh OUT
set -uo pipefail
OUT=$1
source benchmarks/gpu_setup.sh  # also sets R, pack, T, DATA, M
echo "start $(date +%T)" | tee -a $R/driver.log
patchcore_5mp s7  # gpu_setup.sh: fit, device-post profile, 2448×2048 benches
echo "benchmarked $(date +%T)" | tee -a $R/driver.log
$M train --model fusion --data $DATA --out runs/fusion --device cuda > $R/fusion_train.log 2>&1
echo "exit $?" >> $R/fusion_train.log; cp runs/fusion/model.json $R/fusion_model_${T}_s7.json
$M eval --model-dir runs/fusion --data $DATA --device cuda --json $R/fusion_eval_${T}_s7.json > $R/fusion_eval.log 2>&1; pack
$M bench --model-dir runs/fusion --device cuda --sizes 256,2448x2048 --batch 1,32 --iters 50 --frames-from $DATA \
  --json $R/fusion_bench_${T}_s7.json > $R/fusion_bench.log 2>&1; pack
echo "done $(date +%T)" | tee -a $R/driver.log
tail -n 12 $R/fusion_eval.log; cut -c1-400 $R/devpost.log
for f in $R/patchcore_bench_*_s7.json $R/fusion_bench_${T}_s7.json; do
  python3 - "$f" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    print(r["case"], round(r["median_ms"], 2), r.get("stages_ms", ""), r.get("defects", ""))
PY
done
