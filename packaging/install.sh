#!/usr/bin/env bash
# Create .venv and install aoi-station into it (editable, from this checkout).
#
#   bash packaging/install.sh            # the station only: what an inspection PC needs
#   bash packaging/install.sh --dev      # plus the developer tools (pytest, ruff, ...) and OpenVINO
#   bash packaging/install.sh --desktop  # also register aoi-station.desktop and its icons for this user
#
# Versions: packaging/constraints.txt pins what CI tested, so two installs made on different days get
# the same OpenCV, torch, Qt... A package that is not in it installs unpinned (pip constraints only
# constrain); AOI_CONSTRAINTS=FILE uses another file, AOI_CONSTRAINTS= (empty) none. After changing
# dependencies: bash packaging/install.sh --dev && bash packaging/freeze.sh (see packaging/README.md).
#
# torch: without an NVIDIA GPU we install the CPU build (a few hundred MB) — an unpinned `torch`
# from PyPI is the multi-GB CUDA build. The CPU build is taken from the local wheel directory where
# pip is configured with one (offline factory PCs, these dev machines), else from PyTorch's CPU index.
# With a GPU (nvidia-smi works) PyPI's default CUDA build is installed. Override with AOI_TORCH_SPEC.
set -euo pipefail
cd "$(dirname "$0")/.."
DEV=0
DESKTOP=0
for arg in "$@"; do
    case "$arg" in
        --dev) DEV=1 ;;
        --desktop) DESKTOP=1 ;;
        -h | --help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "error: unknown option $arg (use --dev, --desktop or --help)" >&2; exit 2 ;;
    esac
done
PY=${PYTHON:-python3}
VENV=${AOI_VENV:-.venv}
CONSTRAINTS=${AOI_CONSTRAINTS-packaging/constraints.txt}
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
PIN=()
if [ -n "$CONSTRAINTS" ]; then
    [ -f "$CONSTRAINTS" ] || { echo "error: constraints file $CONSTRAINTS not found" >&2; exit 2; }
    PIN=(-c "$CONSTRAINTS")
fi
# torch's pinned version (a public version: `==2.13.0` matches the CPU build 2.13.0+cpu and CUDA's 2.13.0)
TORCH_PIN=$(sed -n 's/^torch==\([^ ;#]*\).*/\1/p' "${CONSTRAINTS:-/dev/null}" 2>/dev/null | head -1)
CPU_TORCH=${AOI_CPU_TORCH:-torch==${TORCH_PIN:-2.13.0}}
if "$VENV/bin/python" -c "import torch" 2>/dev/null; then
    echo "torch already installed: $("$VENV/bin/python" -c 'import torch; print(torch.__version__)')"
elif [ -n "${AOI_TORCH_SPEC:-}" ]; then
    "${PIP[@]}" install -q "$AOI_TORCH_SPEC"
elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    echo "NVIDIA GPU found: installing the CUDA build of torch"
    "${PIP[@]}" install -q "${PIN[@]}" "torch>=2.4,<2.15"
else
    echo "no NVIDIA GPU: installing the CPU build of torch"
    tmp=$(mktemp -d)
    if "${PIP[@]}" download -q --no-deps --no-index -d "$tmp" "$CPU_TORCH" 2>/dev/null; then
        "${PIP[@]}" install -q "${PIN[@]}" "$tmp"/torch-*.whl   # the local CPU wheel; its dependencies from the index
    else
        "${PIP[@]}" install -q "${PIN[@]}" "$CPU_TORCH" --index-url https://download.pytorch.org/whl/cpu \
            --extra-index-url https://pypi.org/simple
    fi
    rm -rf "$tmp"
fi
TARGET="."
[ "$DEV" = 1 ] && TARGET=".[dev,openvino]"   # CI runs the OpenVINO parity tests too
"${PIP[@]}" install -q "${PIN[@]}" -e "$TARGET"   # pyproject excludes the Qt binding releases that leak on this Python
# the Qt/Python pair must not leak references (a leak aborts the station within minutes): check it here,
# not on the line
# (the test's function, loaded without pytest, so a station-only install checks it too)
if ! QT_QPA_PLATFORM=offscreen "$VENV/bin/python" -c 'import importlib.util as u
s = u.spec_from_file_location("qt_refcount", "tests/gui/test_qt_refcount.py"); m = u.module_from_spec(s)
s.loader.exec_module(m); m.test_signals_and_void_calls_keep_true_and_none_refcounts()' >/dev/null; then
    echo "error: $("$VENV/bin/python" -c 'import PySide6, sys; print("PySide6", PySide6.__version__, "on Python", sys.version.split()[0])') leaks references; see tests/gui/test_qt_refcount.py" >&2
    exit 1
fi
if [ "$DESKTOP" = 1 ]; then
    bash packaging/desktop.sh "$(cd "$VENV/bin" && pwd)/aoi-station"
fi
echo "installed into $VENV$([ "$DEV" = 1 ] && echo ' with the dev tools') ($("$VENV/bin/python" -c 'import torch; print("torch", torch.__version__, "cuda" if torch.cuda.is_available() else "cpu")'))"
