#!/usr/bin/env bash
# The session's last GPU call: PatchCore's final configuration, then the seed models, each time-boxed.
# Results are re-packed into $1/results.tgz after every step, so a run cut short still returns them.
# The 2026-11-25 run recorded in docs/benchmarks used the old option names (sidn --max-minutes 1.5,
# sclvi --time-limit-s; sclvi finally ran separately with 60 s); all four models now take --max-seconds.
set -uo pipefail
OUT=$1
R=/tmp/results; mkdir -p $R
pack() { tar czf "$OUT/results.tgz" -C $R . ; }
export SWEEP_ARGS='--configs [{"blocks":[4,10,14],"aggregation":5,"intensity_norm":true,"score_topk":10},{"blocks":[4,10,14],"aggregation":5,"intensity_norm":true,"image_size":[320,320],"coreset_size":12000},{"blocks":[4,10,14],"aggregation":3,"intensity_norm":true}]'
bash benchmarks/gpu_patchcore.sh $R > $R/patchcore.log 2>&1; pack
bash benchmarks/gpu_models.sh $R sidn:"--epochs 150 --max-seconds 90" > $R/sidn.log 2>&1; pack
bash benchmarks/gpu_models.sh $R bfdf:"--steps 6000 --max-seconds 90 --batch-size 16 --workers 12" > $R/bfdf.log 2>&1; pack
bash benchmarks/gpu_models.sh $R sclvi:"--epochs 100 --steps-per-epoch 100 --batch-size 64 --lr 3e-4 --max-seconds 90" > $R/sclvi.log 2>&1; pack
source benchmarks/gpu_setup.sh >/dev/null
cp -r runs/sclvi runs/sclvi-nn1 && python3 -c "import json,pathlib; p=pathlib.Path('runs/sclvi-nn1/model.json'); d=json.loads(p.read_text()); d['config']['neighbours']=1; p.write_text(json.dumps(d))" \
  && python3 -m inspection_core eval --model-dir runs/sclvi-nn1 --data .data/magnetic_tile --device cuda --json $R/sclvi_nn1_eval_h100.json > $R/sclvi_nn1.log 2>&1; pack
