#!/usr/bin/env bash
# NDP-Net training throughput by batch size (seventh session, for the next long run's plan): each run
# does phase 1 for one epoch, then phase 2 until --stop-after; model.json's schedule gives the steps
# done and the seconds. Two GPUs: batch 16 and 32 on GPU 0, 64 and 128 on GPU 1 (one after the other).
# Usage (repo root, device machine): bash benchmarks/gpu_ndp_throughput.sh OUT SECONDS
set -uo pipefail
OUT=$1; SECS=${2:-45}
source benchmarks/gpu_setup.sh  # also sets R, pack, T, DATA, M
run() {
  local gpu=$1 b=$2
  CUDA_VISIBLE_DEVICES=$gpu $M train --model ndpnet --data $DATA --out runs/ndp_b$b --device cuda --epochs 1 \
    --phase2-epochs 600 --batch-size "$b" --workers 6 --stop-after "$SECS" > $R/ndp_b${b}_train.log 2>&1
  python3 - "$b" runs/ndp_b$b/model.json >> $R/ndp_throughput_${T}.txt <<'PY'
import json, sys
d = json.load(open(sys.argv[2])); s = d["extra"]["schedule"]; b = int(sys.argv[1])
p2 = s["elapsed_s"] - s["phase2_start_s"]
print(f"batch {b}: phase 2 {s['steps'][1]} steps in {p2:.1f} s = {s['steps'][1] / p2:.1f} steps/s, "
      f"{s['steps'][1] * b / p2:.0f} images/s; phase 1 {s['steps'][0]} steps in {s['phase2_start_s']:.1f} s")
PY
  pack
}
(run 0 16; run 0 32) &
(run 1 64; run 1 128) &
wait; pack
cat $R/ndp_throughput_${T}.txt
