#!/usr/bin/env bash
# One GPU call (2026-11-29, sixth session, last): PatchCore's default fitted; with the GPU to itself the
# device post-processing (fresh pinned results, one-pass region statistics) profiled and `aoi bench`ed on
# 2448×2048 frames, tiled and in one pass; then SIDN's defaults trained alone (150 epochs), evaluated, and
# fused with PatchCore (`ensemble_experiment.py --quick`). Results go to $OUT/results.tgz after every step.
# Usage (repo root, device machine): bash benchmarks/gpu_s6_call3.sh OUT
set -uo pipefail
OUT=$1
source benchmarks/gpu_setup.sh  # also sets R, pack, T, DATA, M
echo "start $(date +%T)" | tee -a $R/driver.log
patchcore_5mp s6b  # gpu_setup.sh: fit, device-post profile, 2448×2048 benches
echo "benchmarked $(date +%T)" | tee -a $R/driver.log
$M train --model sidn --workers 12 --max-seconds 260 --data $DATA --out runs/sidn --device cuda > $R/sidn_train.log 2>&1
echo "exit $?" >> $R/sidn_train.log; cp runs/sidn/model.json $R/sidn_model_${T}_s6b.json
$M eval --model-dir runs/sidn --data $DATA --device cuda --json $R/sidn_eval_${T}_s6b.json > $R/sidn_eval.log 2>&1; pack
echo "trained $(date +%T)" | tee -a $R/driver.log
(cd benchmarks && python3 ensemble_experiment.py --model-dirs ../runs/patchcore ../runs/sidn --data ../$DATA \
  --device cuda --quick --out $R/ensemble_patchcore_sidn_${T}_s6b.json > $R/ensemble.log 2>&1); pack
echo "done $(date +%T)" | tee -a $R/driver.log
cat $R/devpost.log $R/sidn_eval.log $R/ensemble.log | cut -c1-600
for f in $R/patchcore_bench_*_s6b.json; do
  python3 - "$f" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    print(r["case"], round(r["median_ms"], 2), r.get("stages_ms", ""), r.get("defects", ""))
PY
done
