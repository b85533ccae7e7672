#!/usr/bin/env bash
# Smoke test of a built bundle: run the executable headless on the simulated web and check that it
# inspected frames. Two runs on a fresh station home: the first fits and caches the demo model, the
# second starts as an operator's PC does every morning. Prints each run's start-up time (launch to
# acquisition started, from the report's own clock).
#
#   bash packaging/smoke.sh [dist/aoi-station/aoi-station] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
EXE=${1:-dist/aoi-station/aoi-station}
RUN_FOR=${2:-10}
[ -x "$EXE" ] || { echo "error: $EXE not found: build it first (bash packaging/build.sh)" >&2; exit 2; }
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
for run in first second; do
    t0=$(date +%s.%N)
    "$EXE" --source simulated --run-for "$RUN_FOR" --report "$WORK/$run.json" >"$WORK/$run.log" 2>&1 || {
        echo "error: the $run run failed (exit $?):" >&2; tail -20 "$WORK/$run.log" >&2; exit 1; }
    t1=$(date +%s.%N)
    python3 - "$WORK/$run.json" "$run" "$t0" "$t1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
total = float(sys.argv[4]) - float(sys.argv[3])
if not r.get("inspected"):
    sys.exit(f"error: the {sys.argv[2]} run inspected nothing: {r.get('notifications')}")
print(f"{sys.argv[2]} run: {r['inspected']} frames inspected in {r['run_for_s']} s ({r['model']}, {r['device']}); "
      f"start-up {total - r['wall_s']:.1f} s, process {total:.1f} s")
PY
done
echo "smoke test passed: $EXE"
