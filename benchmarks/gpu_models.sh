#!/usr/bin/env bash
# Train, evaluate and benchmark models on magnetic tile on the GPU machine, one after another.
# Usage (repo root, device machine): bash benchmarks/gpu_models.sh OUTDIR MODEL[:"OPTIONS"] ...
# A model that fails does not stop the others; logs and JSON land in OUTDIR.
set -uo pipefail
OUT=$1; shift
source benchmarks/gpu_setup.sh
DATA=.data/magnetic_tile
M="python3 -m inspection_core"
mkdir -p "$OUT"
for spec in "$@"; do
    name=${spec%%:*}; opts=""; [ "$spec" != "$name" ] && opts=${spec#*:}
    echo "=== $name $opts ($(date +%T))"
    t0=$(date +%s)
    # shellcheck disable=SC2086
    $M train --model "$name" --data $DATA --out runs/$name --device cuda $opts 2>&1 | grep -v "^ *[a-z0-9]* \[" | tail -5
    echo "train wall $(( $(date +%s) - t0 )) s"
    $M eval --model-dir runs/$name --data $DATA --device cuda --json "$OUT/${name}_eval_${GPU_TAG}.json" 2>/dev/null | head -12
    $M bench --model-dir runs/$name --device cuda --sizes 256,2448x2048 --batch 1,32 --iters 50 \
        --json "$OUT/${name}_bench_${GPU_TAG}.json" 2>&1 | tail -4
    cp runs/$name/model.json "$OUT/${name}_model.json" 2>/dev/null
done
