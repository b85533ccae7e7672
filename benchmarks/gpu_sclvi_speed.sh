#!/usr/bin/env bash
# One GPU call (2026-11-29, fifth session): can SCL-VI reach ≤ 20 ms at the paper's stride 4? A short
# training alone, then benchmarks/sclvi_speed_experiment.py on those weights (encoder precisions,
# layouts, torch.compile; kNN), and the model evaluated and benchmarked as shipped and with
# --bf16-scan switched on in a copy (same weights, same memory). Results go to $OUT/results.tgz.
# Usage (repo root, device machine): bash benchmarks/gpu_sclvi_speed.sh OUT TRAIN_SECONDS
set -uo pipefail
OUT=$1; SECS=$2
source benchmarks/gpu_setup.sh  # also sets R, pack, T, DATA, M
echo "start $(date +%T)" | tee -a $R/driver.log
$M train --model sclvi --epochs 300 --steps-per-epoch 100 --batch-size 64 --lr 3e-4 --max-seconds "$SECS" \
  --data $DATA --out runs/sclvi --device cuda > $R/sclvi_train.log 2>&1
echo "exit $?" >> $R/sclvi_train.log; cp runs/sclvi/model.json $R/sclvi_model_$T.json; pack
echo "trained $(date +%T)" | tee -a $R/driver.log
(cd benchmarks && timeout 240 python3 sclvi_speed_experiment.py --out $R/sclvi_speed_$T.json --model-dir ../runs/sclvi \
  --data ../$DATA) > $R/sclvi_speed.log 2>&1; pack
echo "experiment $(date +%T)" | tee -a $R/driver.log
cp -r runs/sclvi runs/sclvi_bf16
python3 - <<'PY'
import json, pathlib
p = pathlib.Path("runs/sclvi_bf16/model.json"); d = json.loads(p.read_text())
d["config"]["bf16_scan"] = True; p.write_text(json.dumps(d, indent=2))
PY
for name in sclvi sclvi_bf16; do
  $M eval --model-dir runs/$name --data $DATA --device cuda --json $R/${name}_eval_$T.json > $R/${name}_eval.log 2>&1
  timeout 60 $M bench --model-dir runs/$name --device cuda --sizes 256 --batch 1,32 --iters 30 \
    --json $R/${name}_bench_$T.json > $R/${name}_bench.log 2>&1; pack
done
echo "evaluated $(date +%T)" | tee -a $R/driver.log
grep -h '"case"' $R/sclvi_speed.log | cut -c1-200
for name in sclvi sclvi_bf16; do
  python3 - "$R/${name}_eval_$T.json" "$R/${name}_bench_$T.json" <<'PY'
import json, sys
e = json.load(open(sys.argv[1])); b = json.load(open(sys.argv[2]))["results"]
print(sys.argv[1].split("/")[-1], round(e["image_auroc"], 4), round(e["pixel_auroc"], 4), round(e["aupro"], 4),
      [(r["case"], round(r["median_ms"], 2)) for r in b])
PY
done
