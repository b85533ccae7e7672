#!/usr/bin/env bash
# PatchCore on magnetic tile on the GPU: option sweep, then train/eval/bench the best with the aoi CLI.
# Run from the repo root on the device machine: bash benchmarks/gpu_patchcore.sh OUTDIR
set -euo pipefail
OUT=${1:-docs/benchmarks}
source benchmarks/gpu_setup.sh
DATA=.data/magnetic_tile
python3 benchmarks/sweep_patchcore.py --data $DATA --out $OUT/patchcore_sweep_${GPU_TAG}.json --device cuda ${SWEEP_ARGS:-}
BEST=$(python3 benchmarks/sweep_to_args.py $OUT/patchcore_sweep_${GPU_TAG}.json)
echo "best options: $BEST"
python3 -m inspection_core train --model patchcore --data $DATA --out runs/patchcore --device cuda $BEST
python3 -m inspection_core eval --model-dir runs/patchcore --data $DATA --device cuda --json $OUT/patchcore_eval_${GPU_TAG}.json
python3 -m inspection_core bench --model-dir runs/patchcore --device cuda --sizes 256,512,2448x2048 --batch 1,32,256 --iters 100 --json $OUT/patchcore_bench_${GPU_TAG}.json
