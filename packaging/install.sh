#!/usr/bin/env bash
# Create .venv and install aoi-station with its test tools.
#
# torch: without an NVIDIA GPU we install the CPU build (a few hundred MB) — an unpinned `torch`
# from PyPI is the multi-GB CUDA build. The CPU build is taken from the local wheel directory where
# pip is configured with one (offline factory PCs, these dev machines), else from PyTorch's CPU index.
# With a GPU (nvidia-smi works) PyPI's default CUDA build is installed. Override with AOI_TORCH_SPEC.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${AOI_VENV:-.venv}
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
CPU_TORCH=${AOI_CPU_TORCH:-torch==2.13.0}
if "$VENV/bin/python" -c "import torch" 2>/dev/null; then
    echo "torch already installed: $("$VENV/bin/python" -c 'import torch; print(torch.__version__)')"
elif [ -n "${AOI_TORCH_SPEC:-}" ]; then
    "${PIP[@]}" install -q "$AOI_TORCH_SPEC"
elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    echo "NVIDIA GPU found: installing the CUDA build of torch"
    "${PIP[@]}" install -q "torch>=2.4,<2.15"
else
    echo "no NVIDIA GPU: installing the CPU build of torch"
    tmp=$(mktemp -d)
    if "${PIP[@]}" download -q --no-deps --no-index -d "$tmp" "$CPU_TORCH" 2>/dev/null; then
        "${PIP[@]}" install -q "$tmp"/torch-*.whl   # the local CPU wheel; its dependencies from the index
    else
        "${PIP[@]}" install -q "$CPU_TORCH" --index-url https://download.pytorch.org/whl/cpu \
            --extra-index-url https://pypi.org/simple
    fi
    rm -rf "$tmp"
fi
"${PIP[@]}" install -q -e ".[dev]"   # pyproject excludes the Qt binding releases that leak on this Python
# the Qt/Python pair must not leak references (a leak aborts the station within minutes): check it here,
# not on the line
if ! QT_QPA_PLATFORM=offscreen "$VENV/bin/python" -m pytest -q -p no:cacheprovider tests/gui/test_qt_refcount.py >/dev/null; then
    echo "error: $("$VENV/bin/python" -c 'import PySide6, sys; print("PySide6", PySide6.__version__, "on Python", sys.version.split()[0])') leaks references; see tests/gui/test_qt_refcount.py" >&2
    exit 1
fi
echo "installed into $VENV ($("$VENV/bin/python" -c 'import torch; print("torch", torch.__version__, "cuda" if torch.cuda.is_available() else "cpu")'))"
