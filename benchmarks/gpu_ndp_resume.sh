#!/usr/bin/env bash
# NDP-Net's long run continued (seventh session, calls 2 and 3): `aoi train --resume` of the folder
# the previous call returned (carried unpacked), stopped again after NDP_SECS unless the schedule ends
# first, returned for the next call (keep_model), evaluated, and benchmarked once its schedule is done.
# On a host with two GPUs it trains on GPU 1 and runs GPU0_SCRIPT (a bash file, sourced in a subshell
# with OUT, R, T, DATA, M and pack set) on GPU 0 at the same time.
# Usage (repo root, device machine): [GPU0_SCRIPT=FILE] bash benchmarks/gpu_ndp_resume.sh OUT PART NDP_SECS FROM
# (FROM: a model folder, or the model_NAME.tgz a previous call returned)
set -uo pipefail
OUT=$1; PART=$2; NDP_SECS=$3; FROM=$4
if [[ $FROM == *.tgz ]]; then  # a returned model_NAME.tgz, carried packed (its folder is larger)
  mkdir -p /tmp/resume && tar xzf "$FROM" -C /tmp/resume && FROM=/tmp/resume/$(tar tzf "$FROM" | head -1 | cut -d/ -f1)
fi
source benchmarks/gpu_setup.sh  # also sets R, pack, T, DATA, M, keep_model, after_part
NGPU=$(nvidia-smi -L | wc -l)
echo "start $(date +%T), $NGPU GPU(s), resuming $FROM" | tee -a $R/driver.log
if [ -n "${GPU0_SCRIPT:-}" ] && [ "$NGPU" -ge 2 ]; then
  ( export CUDA_VISIBLE_DEVICES=0; source "$GPU0_SCRIPT"; echo "gpu0 done $(date +%T)" | tee -a $R/driver.log ) &
  NDP_GPU=1
else
  NDP_GPU=0
fi
export CUDA_VISIBLE_DEVICES=$NDP_GPU
$M train --resume "$FROM" --data $DATA --out runs/ndp_long --device cuda --stop-after "$NDP_SECS" \
  > $R/ndp_long_train_$PART.log 2>&1
echo "exit $?" >> $R/ndp_long_train_$PART.log
after_part ndp_long "$PART"
wait; pack
echo "done $(date +%T)" | tee -a $R/driver.log
tail -n 14 $R/ndp_long_eval_$PART.log; tail -c 500 $R/ndp_long_train_$PART.log; ls -la $OUT
