#!/usr/bin/env bash
# One packed GPU call (2026-11-29): PatchCore's shipped default alone (train, eval, bench, profile),
# then the seed models trained side by side on the one GPU (time-boxed, each its own process) while a
# PatchCore localisation sweep runs, then each seed model evaluated and benchmarked alone.
# Results are re-packed into $1/results.tgz after every step, so a call cut short still returns them.
# Usage (repo root, device machine): SWEEP4='[{...}, ...]' bash benchmarks/gpu_parallel.sh OUT SECONDS
# (SWEEP4: the PatchCore option dicts to sweep; unset = sweep_patchcore.py's defaults)
set -uo pipefail
OUT=$1; SECS=${2:-270}
source benchmarks/gpu_setup.sh  # also sets R, pack, T, DATA, M
nvidia-cuda-mps-control -d >/dev/null 2>&1 && echo "MPS daemon started" || echo "no MPS"
# --- PatchCore default, alone on the GPU --------------------------------------------------------
{ $M train --model patchcore --data $DATA --out runs/patchcore --device cuda
  $M eval --model-dir runs/patchcore --data $DATA --device cuda --json $R/patchcore_eval_$T.json
  $M bench --model-dir runs/patchcore --device cuda --sizes 256,2448x2048 --batch 1,32,256 --iters 100 --json $R/patchcore_bench_$T.json
  cp runs/patchcore/model.json $R/patchcore_model_$T.json
  timeout 90 python3 benchmarks/profile_gpu.py --model-dir runs/patchcore --out $R/patchcore_profile_$T.json
} > $R/patchcore.log 2>&1; pack
echo "patchcore done $(date +%T)"
# --- seed models side by side --------------------------------------------------------------------
train() { local name=$1 model=$2; shift 2
  ( $M train --model $model --data $DATA --out runs/$name --device cuda --max-seconds $SECS "$@" > $R/${name}_train.log 2>&1
    echo "exit $?" >> $R/${name}_train.log ) & }
train ndpnet ndpnet --epochs 200 --phase2-epochs 400 --lr 3e-4 --workers 3
train sidn sidn --epochs 2000 --workers 3
train sclvi sclvi --epochs 1000 --steps-per-epoch 100 --batch-size 64 --lr 3e-4
train bfdf bfdf --steps 200000 --batch-size 16 --workers 3
train bfdf_f4l2d4 bfdf --steps 200000 --batch-size 16 --workers 2 --w-focal 0.4 --w-l1 0.2 --w-dice 0.4
train bfdf_f1 bfdf --steps 200000 --batch-size 16 --workers 2 --w-focal 1 --w-l1 0 --w-dice 0
timeout $((SECS + 60)) python3 benchmarks/sweep_patchcore.py --data $DATA --out $R/patchcore_sweep4_$T.json --device cuda --configs "${SWEEP4:-}" > $R/sweep4.log 2>&1; pack
echo "sweep done $(date +%T)"
wait; pack
echo "seeds trained $(date +%T)"
cp -r runs/sclvi runs/sclvi_nn1 && python3 -c "import json,pathlib; p=pathlib.Path('runs/sclvi_nn1/model.json'); d=json.loads(p.read_text()); d['config']['neighbours']=1; p.write_text(json.dumps(d))"
for n in ndpnet sidn sclvi sclvi_nn1 bfdf bfdf_f4l2d4 bfdf_f1; do
  cp runs/$n/model.json $R/${n}_model_$T.json 2>/dev/null
  ( $M eval --model-dir runs/$n --data $DATA --device cuda --json $R/${n}_eval_$T.json > $R/${n}_eval.log 2>&1 ) &
done; wait; pack
echo "evals done $(date +%T)"
for n in ndpnet sidn sclvi bfdf; do
  timeout 60 $M bench --model-dir runs/$n --device cuda --sizes 256,2448x2048 --batch 1,32 --iters 50 --json $R/${n}_bench_$T.json > $R/${n}_bench.log 2>&1; pack
done
echo "all done $(date +%T)"
