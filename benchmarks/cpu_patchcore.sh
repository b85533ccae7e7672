#!/usr/bin/env bash
# PatchCore on magnetic tile on this machine's CPU: train (timed), eval and bench with the aoi CLI.
# Usage: bash benchmarks/cpu_patchcore.sh [DATA] — writes docs/benchmarks/patchcore_*_cpu.json
set -euo pipefail
DATA=${1:-../shared/datasets/magnetic_tile}
AOI=${AOI:-aoi}
OUT=docs/benchmarks
M=$(mktemp -d)/patchcore
/usr/bin/time -v $AOI train --model patchcore --data "$DATA" --out "$M" --device cpu 2> >(tee $OUT/logs/patchcore_train_cpu.log >&2)
$AOI eval --model-dir "$M" --data "$DATA" --device cpu --json $OUT/patchcore_eval_cpu.json
$AOI bench --model-dir "$M" --device cpu --sizes 256,1024 --batch 1,8 --iters 30 --frames-from "$DATA" --json $OUT/patchcore_bench_cpu.json
cp "$M/model.json" $OUT/patchcore_model_cpu.json
