#!/usr/bin/env bash
# One GPU call for PatchCore (2026-11-29, second round): the shipped default trained, evaluated,
# benchmarked (synthetic frames and frames tiled from good images; eager and CUDA-graph rows) and
# profiled; then an option sweep. Results are packed into $1/results.tgz after every step.
# SWEEP='[]' skips the sweep.
# Usage (repo root, device machine): SWEEP='[{...}, ...]' bash benchmarks/gpu_patchcore_round.sh OUT TAG
set -uo pipefail
OUT=$1; TAG=${2:-sweep5}
source benchmarks/gpu_setup.sh  # also sets R, pack, T, DATA, M
{ $M train --model patchcore --data $DATA --out runs/patchcore --device cuda
  $M eval --model-dir runs/patchcore --data $DATA --device cuda --json $R/patchcore_eval_$T.json
  cp runs/patchcore/model.json $R/patchcore_model_$T.json
  $M bench --model-dir runs/patchcore --device cuda --sizes 256,2448x2048 --batch 1,32,256 --iters 100 \
    --frames-from $DATA --json $R/patchcore_bench_$T.json
  # the 40-ms full-frame target depends on the tile count: 10 % overlap gives 99 tiles instead of 143
  $M bench --model-dir runs/patchcore --device cuda --sizes 2448x2048 --batch 1 --iters 50 --overlap 0.1 \
    --frames-from $DATA --json $R/patchcore_bench_overlap10_$T.json
  # the same frame in one fully convolutional pass (Preprocessing.whole_frame): no tiles, no stitching
  $M bench --model-dir runs/patchcore --device cuda --sizes 2448x2048 --batch 1 --iters 50 --whole-frame \
    --frames-from $DATA --json $R/patchcore_bench_whole_$T.json
} > $R/patchcore.log 2>&1; pack
echo "default done $(date +%T)"
timeout 150 python3 benchmarks/profile_gpu.py --model-dir runs/patchcore --out $R/patchcore_profile_$T.json > $R/profile.log 2>&1; pack
echo "profile done $(date +%T)"
[ "${SWEEP:-}" = "[]" ] || python3 benchmarks/sweep_patchcore.py --data $DATA --out $R/patchcore_${TAG}_$T.json --device cuda --configs "${SWEEP:-}" > $R/$TAG.log 2>&1; pack
echo "sweep done $(date +%T)"
