#!/usr/bin/env bash
# One GPU call (2026-11-29, fourth session, last): SIDN trained with its new defaults and BFDF continued
# (side by side, with two short NDP-Net / SCL-VI fits that only serve the graph check), then alone on
# the GPU: PatchCore benchmarked (channels-last from 4 × 256² pixels, normalisation on the device),
# profiled, and every model's CUDA-graph replay checked against eager. Results go to $OUT/results.tgz
# after every step.
# Usage (repo root, device machine): INIT=.out/init/bfdf bash benchmarks/gpu_final_s4.sh OUT TRAIN_SECONDS
set -uo pipefail
OUT=$1; SECS=$2
source benchmarks/gpu_setup.sh  # also sets R, pack, T, DATA, M
train() {  # NAME OPTIONS...
  local name=$1; shift
  $M train "$@" --data $DATA --out runs/$name --device cuda > $R/${name}_train.log 2>&1
  echo "exit $?" >> $R/${name}_train.log; cp runs/$name/model.json $R/${name}_model_$T.json 2>/dev/null
}
echo "start $(date +%T)" | tee -a $R/driver.log
train patchcore --model patchcore
train sidn --model sidn --workers 4 --max-seconds "$SECS" &
[ -n "${INIT:-}" ] && train bfdf --model bfdf --steps 60000 --batch-size 16 --workers 4 --max-seconds "$SECS" --init-from "$INIT" &
train ndpnet_q --model ndpnet --workers 2 --max-seconds 40 &
train sclvi_q --model sclvi --max-seconds 40 &
wait; pack; echo "trained $(date +%T)" | tee -a $R/driver.log
for name in sidn bfdf; do
  [ -d runs/$name ] && $M eval --model-dir runs/$name --data $DATA --device cuda --json $R/${name}_eval_$T.json > $R/${name}_eval.log 2>&1 &
done
wait; pack; echo "evaluated $(date +%T)" | tee -a $R/driver.log
[ -d runs/bfdf ] && tar czf "$OUT/model_bfdf.tgz" -C runs bfdf
# alone on the GPU from here
{ $M bench --model-dir runs/patchcore --device cuda --sizes 256,2448x2048 --batch 1,32,256 --iters 50 \
    --frames-from $DATA --json $R/patchcore_bench_$T.json
  $M bench --model-dir runs/patchcore --device cuda --sizes 2448x2048 --batch 1 --iters 30 --overlap 0.1 \
    --frames-from $DATA --json $R/patchcore_bench_overlap10_$T.json
  $M bench --model-dir runs/patchcore --device cuda --sizes 2448x2048 --batch 1 --iters 30 --whole-frame \
    --frames-from $DATA --json $R/patchcore_bench_whole_$T.json
} > $R/patchcore_bench.log 2>&1; pack; echo "patchcore benched $(date +%T)" | tee -a $R/driver.log
timeout 100 python3 benchmarks/graph_check.py --out $R/graph_check_$T.json runs/patchcore runs/sidn runs/bfdf \
  runs/ndpnet_q runs/sclvi_q > $R/graph_check.log 2>&1; pack
echo "graphs checked $(date +%T)" | tee -a $R/driver.log
for name in sidn bfdf; do
  timeout 30 $M bench --model-dir runs/$name --device cuda --sizes "$([ $name = sidn ] && echo 128 || echo 256)" \
    --batch 1,32 --iters 30 --json $R/${name}_bench_$T.json > $R/${name}_bench.log 2>&1; pack
done
echo "seed models benched $(date +%T)" | tee -a $R/driver.log
timeout 120 python3 benchmarks/profile_gpu.py --model-dir runs/patchcore --iters 15 --out $R/patchcore_profile_$T.json \
  > $R/profile.log 2>&1; pack
echo "profiled $(date +%T)" | tee -a $R/driver.log
grep -h "median" $R/patchcore_bench.log | cut -c1-100
python3 - <<'PY'
import glob, json
for f in sorted(glob.glob("/tmp/results/*_eval_*.json")):
    d = json.load(open(f)); print(f.split("/")[-1], round(d["image_auroc"], 3), round(d["pixel_auroc"], 3), round(d["aupro"], 3))
for f in glob.glob("/tmp/results/graph_check_*.json"):
    for m in json.load(open(f))["models"]:
        print(m.get("model"), m.get("captured"), m.get("error", ""), {k: {kk: round(vv, 5) for kk, vv in v.items()} for k, v in m.items() if k.startswith("batch")})
PY
