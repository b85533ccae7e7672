#!/usr/bin/env bash
# One GPU call (2026-11-29, fifth session, last): NDP-Net's best row of call 1 (128², SIDN's fills,
# fp32) trained alone for TRAIN_SECONDS; beside its first 100 s a short SCL-VI training, evaluated with
# the compiled patch scan (the new default) and eagerly (same weights); then, with the GPU to itself,
# both benchmarked (and the compiled scan in fp32). Results go to $OUT/results.tgz after every step.
# Usage (repo root, device machine): bash benchmarks/gpu_s5_final.sh OUT TRAIN_SECONDS
set -uo pipefail
OUT=$1; SECS=$2
source benchmarks/gpu_setup.sh  # also sets R, pack, T, DATA, M
echo "start $(date +%T)" | tee -a $R/driver.log
read -r NDP NDP_OPTS < <(grep -v '^#' benchmarks/grids/s5_call3.txt | head -1)
# shellcheck disable=SC2086
( $M train $NDP_OPTS --data $DATA --out runs/$NDP --device cuda --max-seconds "$SECS" > $R/${NDP}_train.log 2>&1
  echo "exit $?" >> $R/${NDP}_train.log; cp runs/$NDP/model.json $R/${NDP}_model_$T.json ) &
( $M train --model sclvi --epochs 300 --steps-per-epoch 100 --batch-size 64 --lr 3e-4 --max-seconds 100 \
    --data $DATA --out runs/sclvi --device cuda > $R/sclvi_train.log 2>&1
  echo "exit $?" >> $R/sclvi_train.log; cp runs/sclvi/model.json $R/sclvi_model_$T.json
  for v in eager:compile_scan:false fp32c:amp:false; do
    IFS=: read -r name key val <<< "$v"
    cp -r runs/sclvi runs/sclvi_$name
    python3 -c "import json,pathlib,sys; p=pathlib.Path(sys.argv[1]); d=json.loads(p.read_text()); d['config'][sys.argv[2]]=sys.argv[3]=='true'; p.write_text(json.dumps(d, indent=2))" runs/sclvi_$name/model.json $key $val
  done
  for name in sclvi sclvi_eager; do
    $M eval --model-dir runs/$name --data $DATA --device cuda --json $R/${name}_eval_$T.json > $R/${name}_eval.log 2>&1
  done ) &
wait; pack; echo "trained $(date +%T)" | tee -a $R/driver.log
$M eval --model-dir runs/$NDP --data $DATA --device cuda --json $R/${NDP}_eval_$T.json > $R/${NDP}_eval.log 2>&1
timeout 40 $M bench --model-dir runs/$NDP --device cuda --sizes 128 --batch 1,32 --iters 30 \
  --json $R/${NDP}_bench_$T.json > $R/${NDP}_bench.log 2>&1; pack
for name in sclvi sclvi_eager sclvi_fp32c; do
  timeout 60 $M bench --model-dir runs/$name --device cuda --sizes 256 --batch 1,32 --iters 30 \
    --json $R/${name}_bench_$T.json > $R/${name}_bench.log 2>&1; pack
done
echo "benchmarked $(date +%T)" | tee -a $R/driver.log
for name in $NDP sclvi sclvi_eager sclvi_fp32c; do
  python3 - "$R/${name}_eval_$T.json" "$R/${name}_bench_$T.json" <<'PY'
import json, sys
for f in sys.argv[1:]:
    try:
        d = json.load(open(f))
        if "results" in d:
            print(f.split("/")[-1], [(r["case"], round(r["median_ms"], 2)) for r in d["results"]])
        else:
            print(f.split("/")[-1], round(d["image_auroc"], 4), round(d["pixel_auroc"], 4), round(d["aupro"], 4),
                  {k: round(v["image_auroc"], 3) for k, v in d.get("per_type", {}).items()})
    except Exception as exc:
        print(f, "missing:", exc)
PY
done
