# Sourced by gpu_ndp_resume.sh on GPU 0 (seventh session, call 3): the fusion with PatchCore at 384²
# and a 16,000-patch coreset (PatchCore's best AUPRO alone, 0.776 in sweep 6), trained, evaluated and
# benchmarked — a localisation-first recipe for a GPU station. Needs OUT, R, T, DATA, M, pack.
$M train --model fusion --data $DATA --out runs/fusion384 --device cuda --image-size 384 \
  --patchcore-options "coreset_size=16000" > $R/fusion384_train.log 2>&1
echo "exit $?" >> $R/fusion384_train.log; cp runs/fusion384/model.json $R/fusion384_model_${T}_s7.json
$M eval --model-dir runs/fusion384 --data $DATA --device cuda --json $R/fusion384_eval_${T}_s7.json \
  > $R/fusion384_eval.log 2>&1; pack
timeout 90 $M bench --model-dir runs/fusion384 --device cuda --sizes 384 --batch 1,32 --iters 50 \
  --json $R/fusion384_bench_${T}_s7.json > $R/fusion384_bench.log 2>&1; pack
tail -n 12 $R/fusion384_eval.log
