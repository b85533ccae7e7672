#!/usr/bin/env bash
# Smoke test of a built bundle: run the executable headless on the simulated web and check that it
# inspected frames on ONNX Runtime. Two runs on a fresh station home: the first fits and caches the demo
# model and runs the default backend (auto: ONNX Runtime on a CPU, the model exported in memory), the
# second starts as an operator's PC does every morning, with --backend onnxruntime (the export written
# beside the cached model). The station falls back to torch with a warning when the export or ONNX
# Runtime fails (in a frozen app: a module, data file or library the bundle lacks), so each run's report
# must say backend "onnxruntime". Prints each run's start-up time (launch to acquisition started, from
# the report's own clock). Then the bundle's command line, `aoi` beside the station's executable, on the
# same station home: its version, the records the two runs wrote, and an ONNX export of the cached demo
# model (about 10 s on a shared 2-core CPU).
#
#   bash packaging/smoke.sh [dist/aoi-station/aoi-station] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
EXE=${1:-dist/aoi-station/aoi-station}
RUN_FOR=${2:-10}
[ -x "$EXE" ] || { echo "error: $EXE not found: build it first (bash packaging/build.sh)" >&2; exit 2; }
AOI=$(dirname "$EXE")/aoi
[ -x "$AOI" ] || { echo "error: $AOI not found: the bundle lacks its command line" >&2; exit 1; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export QT_QPA_PLATFORM=offscreen AOI_STATION_HOME="$WORK/home" CUDA_VISIBLE_DEVICES=""
# the version lines name the bundle's build stamp (there is no .git beside a bundle)
version=$("$EXE" --version) || { echo "error: $EXE --version failed" >&2; exit 1; }
echo "$version"
case "$(echo "$version" | head -1)" in
    *"[bundle built "*) ;;
    *) echo "error: --version does not name the bundle's build stamp" >&2; exit 1 ;;
esac
case "$version" in
    *"inference backend installed: "*onnxruntime*) ;;
    *) echo "error: the bundle has no ONNX Runtime backend (see --version)" >&2; exit 1 ;;
esac
for run in first second; do
    backend=()  # the first run: the station setting's default, auto
    [ "$run" = second ] && backend=(--backend onnxruntime)
    t0=$(date +%s.%N)
    "$EXE" --source simulated --run-for "$RUN_FOR" "${backend[@]}" --report "$WORK/$run.json" \
        >"$WORK/$run.log" 2>&1 || {
        echo "error: the $run run failed (exit $?):" >&2; tail -20 "$WORK/$run.log" >&2; exit 1; }
    t1=$(date +%s.%N)
    python3 - "$WORK/$run.json" "$run" "$t0" "$t1" <<'PY'
import json, re, sys
r = json.load(open(sys.argv[1]))
total = float(sys.argv[4]) - float(sys.argv[3])
if not r.get("inspected"):
    sys.exit(f"error: the {sys.argv[2]} run inspected nothing: {r.get('notifications')}")
if r.get("backend") != "onnxruntime":  # the fallback's warning says why (export, parity, import)
    why = [n for n in r.get("notifications", []) if "backend" in n] or r.get("notifications")
    sys.exit(f"error: the {sys.argv[2]} run inspected on {r.get('backend')!r}, not ONNX Runtime "
             f"(--backend {r.get('backend_choice')}): {why}")
prepared = [m.group(1) for n in r["notifications"] if (m := re.search(r"now runs on ONNX Runtime \((.*)\)", n))]
print(f"{sys.argv[2]} run: {r['inspected']} frames inspected in {r['run_for_s']} s ({r['model']}, {r['device']}, "
      f"onnxruntime {prepared[-1] if prepared else ''}); start-up {total - r['wall_s']:.1f} s, process {total:.1f} s")
PY
done

# the command line: `aoi --version` names the same build stamp, and reads what the station wrote
t0=$(date +%s.%N)
aoi_version=$("$AOI" --version) || { echo "error: $AOI --version failed" >&2; exit 1; }
[ "$(echo "$aoi_version" | head -1)" = "$(echo "$version" | head -1)" ] ||
    { echo "error: $AOI --version differs from the station's: $aoi_version" >&2; exit 1; }
"$AOI" records list --limit 5 --json >"$WORK/records.json" ||
    { echo "error: $AOI records list failed" >&2; exit 1; }
"$AOI" export --model-dir "$AOI_STATION_HOME/demo-model" --out "$WORK/demo.onnx" >"$WORK/export.log" 2>&1 ||
    { echo "error: $AOI export failed:" >&2; tail -5 "$WORK/export.log" >&2; exit 1; }
t1=$(date +%s.%N)
python3 - "$WORK/records.json" "$WORK/demo.onnx" "$t0" "$t1" <<'PY'
import json, os, sys
rows = json.load(open(sys.argv[1]))
if not rows:
    sys.exit("error: aoi records list found no inspection of the two runs")
if not os.path.getsize(sys.argv[2]):
    sys.exit("error: aoi export wrote an empty ONNX file")
print(f"aoi: --version, records list ({len(rows)} rows, newest {rows[0].get('verdict')}), export "
      f"({os.path.getsize(sys.argv[2]) // 1024} KiB ONNX) in {float(sys.argv[4]) - float(sys.argv[3]):.1f} s")
PY
echo "smoke test passed: $EXE and $AOI"
