#!/usr/bin/env bash
# Build the station as one folder with PyInstaller: dist/aoi-station/aoi-station and the command line
# dist/aoi-station/aoi beside it, then smoke-test both.
#
#   bash packaging/build.sh             # the last commit (git archive HEAD), CPU torch
#   bash packaging/build.sh --worktree  # this working tree as it is, uncommitted edits included
#   bash packaging/build.sh --cuda      # PyPI's CUDA build of torch instead (a few GB larger)
#   bash packaging/build.sh --no-smoke  # skip the headless smoke test (packaging/smoke.sh)
#
# Takes minutes: a station-only install (packaging/install.sh, with packaging/constraints.txt) into a
# build venv of its own (build/venv, build/venv-cuda), PyInstaller, then the smoke test. Copy the
# folder dist/aoi-station to the target PC; `bash dist/aoi-station/desktop.sh` registers it in the
# desktop menu.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CUDA=0
SMOKE=1
WORKTREE=0
for arg in "$@"; do
    case "$arg" in
        --cuda) CUDA=1 ;;
        --no-smoke) SMOKE=0 ;;
        --worktree) WORKTREE=1 ;;
        -h | --help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "error: unknown option $arg (use --worktree, --cuda, --no-smoke or --help)" >&2; exit 2 ;;
    esac
done
TORCH=$(sed -n 's/^torch==\([^ ;#]*\).*/\1/p' packaging/constraints.txt)
if [ "$CUDA" = 1 ]; then
    VENV=${AOI_BUILD_VENV:-$ROOT/build/venv-cuda}
    export AOI_TORCH_SPEC="torch==${TORCH:-2.13.0}"  # PyPI's default Linux build is the CUDA one
else
    VENV=${AOI_BUILD_VENV:-$ROOT/build/venv}
    # the CPU build even on a machine with a GPU (install.sh would pick CUDA there): the local wheel
    # where pip has one (as install.sh takes it), else PyTorch's CPU index
    export AOI_TORCH_SPEC="${AOI_CPU_TORCH:-torch==${TORCH:-2.13.0}}"
    wheels=$(mktemp -d)
    trap 'rm -rf "$wheels"' EXIT
    if "${PYTHON:-python3}" -m pip download -q --no-deps --no-index -d "$wheels" "$AOI_TORCH_SPEC" 2>/dev/null; then
        AOI_TORCH_SPEC=$(ls "$wheels"/torch-*.whl)
    else
        export PIP_INDEX_URL=https://download.pytorch.org/whl/cpu PIP_EXTRA_INDEX_URL=https://pypi.org/simple
    fi
fi

# the sources: a clean export of HEAD (what the stamp names), or the working tree
if [ "$WORKTREE" = 1 ]; then
    SRC=$ROOT
    REV=$(git describe --always --dirty 2>/dev/null || echo "")
else
    SRC=$ROOT/build/src
    rm -rf "$SRC" && mkdir -p "$SRC"
    git archive HEAD | tar -x -C "$SRC"
    REV=$(git describe --always 2>/dev/null || echo "")
fi
echo "== installing the station ($REV) into $VENV"
(cd "$SRC" && AOI_VENV=$VENV bash packaging/install.sh)  # editable: the venv's aoi-station is $SRC
unset PIP_INDEX_URL PIP_EXTRA_INDEX_URL
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -c packaging/constraints.txt \
    -r packaging/build-requirements.txt
if [ "$CUDA" = 0 ] && "$VENV/bin/python" -c "import sys, torch; sys.exit(torch.version.cuda is None)"; then
    echo "error: $VENV has a CUDA build of torch; remove it or build with --cuda" >&2
    exit 2
fi

echo "== build stamp and third-party licences"
STAGE=$ROOT/build/stage
rm -rf "$STAGE" && mkdir -p "$STAGE"
"$VENV/bin/python" "$SRC/packaging/stamp.py" "$STAGE/aoi-station-build.json" "$REV"
"$VENV/bin/python" "$SRC/packaging/licenses.py" "$STAGE/THIRD-PARTY-LICENSES.txt"

echo "== PyInstaller"
t0=$(date +%s)
AOI_BUILD_STAGE=$STAGE "$VENV/bin/pyinstaller" --noconfirm --log-level WARN \
    --distpath "$ROOT/dist" --workpath "$ROOT/build/pyinstaller" "$SRC/packaging/aoi-station.spec"
cp "$SRC/packaging/desktop.sh" dist/aoi-station/  # beside the executable: registers it in the menu
echo "built dist/aoi-station in $(($(date +%s) - t0)) s: $(du -sh dist/aoi-station | cut -f1)"
if [ "$SMOKE" = 1 ]; then
    bash packaging/smoke.sh dist/aoi-station/aoi-station
fi
echo "done: dist/aoi-station/aoi-station"
