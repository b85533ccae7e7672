#!/usr/bin/env bash
# Models trained side by side on one GPU until a deadline, then each evaluated and benchmarked alone.
# GRID is a text file, one run per line: NAME then `aoi train` options (including --model); lines
# starting with # are skipped. Results go to $OUT/results.tgz after every step, so a call cut short
# still returns what was done; a run named bfdf* also comes back as $OUT/model_NAME.tgz (small enough).
# Usage (repo root, device machine): bash benchmarks/gpu_grid.sh OUT TRAIN_SECONDS GRID
set -uo pipefail
OUT=$1; SECS=$2; GRID=$3
source benchmarks/gpu_setup.sh  # also sets R, pack, T, DATA, M
names=()
echo "grid $GRID: train $SECS s, start $(date +%T)" | tee -a $R/driver.log
while read -r name opts; do
  [[ -z $name || $name == \#* ]] && continue
  names+=("$name")
  # shellcheck disable=SC2086
  ( $M train $opts --data $DATA --out runs/$name --device cuda --max-seconds "$SECS" > $R/${name}_train.log 2>&1
    echo "exit $?" >> $R/${name}_train.log; cp runs/$name/model.json $R/${name}_model_$T.json 2>/dev/null ) &
done < "$GRID"
wait; pack; echo "trained $(date +%T)" >> $R/driver.log
for name in "${names[@]}"; do
  $M eval --model-dir runs/$name --data $DATA --device cuda --json $R/${name}_eval_$T.json > $R/${name}_eval.log 2>&1 &
done
wait; pack; echo "evaluated $(date +%T)" >> $R/driver.log
for name in "${names[@]}"; do
  [[ $name == bfdf* && -d runs/$name ]] && tar czf "$OUT/model_$name.tgz" -C runs "$name"
done
for name in "${names[@]}"; do  # one at a time: latency needs the GPU alone
  size=$(python3 -c "import json; print(json.load(open('runs/$name/model.json'))['config']['image_size'][0])" 2>/dev/null)
  timeout 40 $M bench --model-dir runs/$name --device cuda --sizes "${size:-256}" --batch 1,32 --iters 30 \
    --json $R/${name}_bench_$T.json > $R/${name}_bench.log 2>&1; pack
done
echo "benchmarked $(date +%T)" >> $R/driver.log
for name in "${names[@]}"; do
  python3 - "$R/${name}_eval_$T.json" "$R/${name}_bench_$T.json" <<'PY'
import json, sys
try:
    e = json.load(open(sys.argv[1]))
    b = {r["case"]: r["median_ms"] for r in json.load(open(sys.argv[2]))["results"]}
    b1 = next((round(v, 2) for k, v in b.items() if "batch 1" in k), None)
    print(sys.argv[1].split("/")[-1], round(e["image_auroc"], 3), round(e["pixel_auroc"], 3), round(e["aupro"], 3), "b1 ms", b1)
except Exception as exc:
    print(sys.argv[1], "missing:", exc)
PY
done
cat $R/driver.log
