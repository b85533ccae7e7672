# Sourced by gpu_ndp_resume.sh on GPU 0 (seventh session, call 2): where PatchCore's and SIDN's pooled
# pixel AUROC is lost — each defect type against good images and against its images' normal pixels,
# and those normal pixels by their distance to the defect (benchmarks/pooled_auroc_diagnostic.py).
# Needs OUT, R, T, DATA, M and pack (gpu_setup.sh).
$M train --model patchcore --data $DATA --out runs/patchcore --device cuda > $R/diag_patchcore_train.log 2>&1
(cd benchmarks && python3 pooled_auroc_diagnostic.py --model-dir ../runs/patchcore --data ../$DATA --device cuda \
  --out $R/pooled_diag_patchcore_${T}_s7.json > $R/diag_patchcore.log 2>&1); pack
$M train --model sidn --data $DATA --out runs/sidn --device cuda > $R/diag_sidn_train.log 2>&1
cp runs/sidn/model.json $R/diag_sidn_model_${T}_s7.json
(cd benchmarks && python3 pooled_auroc_diagnostic.py --model-dir ../runs/sidn --data ../$DATA --device cuda \
  --out $R/pooled_diag_sidn_${T}_s7.json > $R/diag_sidn.log 2>&1); pack
