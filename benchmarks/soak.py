"""Soak: the real window on the simulated web for a shift's worth of minutes, watched for slow death.

Runs `python -m app --source simulated --run-for SECONDS --samples FILE` in a subprocess (offscreen Qt),
so a crash of the app (an abort, a kill) is a finding here and not the end of the benchmark. Every
`--interval` seconds it samples the process from outside (RSS, threads, open file handles, from
/proc: Linux) and reads the app's own health samples (frames inspected/dropped, the GUI heartbeat's
largest gap, sys.getrefcount(True/None)). It writes a JSON with every sample and prints a summary.

Fails (exit 1) on: a crash or non-zero exit; RSS growth beyond --max-rss-growth-mb after the warm-up;
thread or file-handle growth beyond their bounds; a GUI heartbeat gap over --max-gap-ms or no health
sample for 3 intervals (a stalled GUI); inspection that stops advancing for --max-idle-s; a drift of the
True/None refcounts beyond --max-refcount-drift (the Qt binding leak of tests/gui/test_qt_refcount.py).

    python benchmarks/soak.py                      # 5 minutes: run it before every release
    python benchmarks/soak.py --minutes 30 --json soak30.json   # the release soak
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def proc_sample(pid: int) -> dict[str, Any] | None:
    """RSS (MB), threads and open file handles of a live process; None once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    if "VmRSS" not in fields:  # exited, not yet reaped
        return None
    return {
        "rss_mb": round(int(fields["VmRSS"].split()[0]) / 1024, 1),
        "threads": int(fields["Threads"]),
        "fds": fds,
    }


def read_health(path: Path, seen: int) -> list[dict[str, Any]]:
    """Health lines the app appended since the last call (a half-written last line waits)."""
    if not path.is_file():
        return []
    lines = path.read_text().splitlines()[seen:]
    out = []
    for line in lines:
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            break
    return out


def _median(xs: list[float]) -> float | None:
    return statistics.median(xs) if xs else None


def evaluate(doc: dict[str, Any], args: argparse.Namespace) -> list[str]:
    """The reasons this soak failed (empty: it passed)."""
    fails: list[str] = []
    if doc["exit_code"] != 0:
        fails.append(f"the app exited with {doc['exit_code']} ({doc.get('exit_signal') or 'no signal'})")
    ext = [s for s in doc["process_samples"] if s["t_s"] >= doc["warmup_s"]]
    if len(ext) >= 4:
        # compare the first and the last minute after warm-up (a quarter of a short run)
        span = max(3 * args.interval, min(60.0, (ext[-1]["t_s"] - ext[0]["t_s"]) / 4))
        first = [s for s in ext if s["t_s"] <= ext[0]["t_s"] + span]
        last = [s for s in ext if s["t_s"] >= ext[-1]["t_s"] - span]
        growth = {
            k: round(_median([s[k] for s in last]) - _median([s[k] for s in first]), 1)
            for k in ("rss_mb", "threads", "fds")
        }
        doc["growth_after_warmup"] = growth
        if growth["rss_mb"] > args.max_rss_growth_mb:
            fails.append(f"RSS grew {growth['rss_mb']} MB after warm-up (bound {args.max_rss_growth_mb})")
        if growth["threads"] > args.max_thread_growth:
            fails.append(f"threads grew by {growth['threads']} (bound {args.max_thread_growth})")
        if growth["fds"] > args.max_fd_growth:
            fails.append(f"open file handles grew by {growth['fds']} (bound {args.max_fd_growth})")
    else:
        fails.append("too few samples after warm-up to judge growth")
    health = doc["health_samples"]
    gaps = [h["heartbeat_max_gap_ms"] for h in health if h["t_s"] >= doc["warmup_s"]]
    if gaps and max(gaps) > args.max_gap_ms:
        fails.append(f"GUI heartbeat gap of {max(gaps):.0f} ms (bound {args.max_gap_ms:.0f})")
    if doc["longest_health_silence_s"] > 3 * args.interval + 5:
        fails.append(f"no health sample for {doc['longest_health_silence_s']:.0f} s (GUI stalled)")
    progress = [h for h in health if h["inspected"] > 0]
    if not progress:
        fails.append("nothing was inspected")
    else:
        idle, last_n, last_t = 0.0, progress[0]["inspected"], progress[0]["t_s"]
        for h in progress[1:]:
            if h["inspected"] > last_n:
                last_n, last_t = h["inspected"], h["t_s"]
            idle = max(idle, h["t_s"] - last_t)
        doc["longest_inspection_idle_s"] = round(idle, 1)
        if idle > args.max_idle_s:
            fails.append(f"inspection did not advance for {idle:.0f} s (bound {args.max_idle_s:.0f})")
    after = [h for h in health if h["t_s"] >= doc["warmup_s"]]
    if len(after) >= 2:
        drift = {k: after[-1][f"refcount_{k}"] - after[0][f"refcount_{k}"] for k in ("true", "none")}
        doc["refcount_drift_after_warmup"] = drift
        for k, d in drift.items():
            if abs(d) > args.max_refcount_drift:
                fails.append(f"refcount of {k.title()} drifted by {d} (bound {args.max_refcount_drift})")
    return fails


def run(args: argparse.Namespace) -> dict[str, Any]:
    seconds = args.minutes * 60.0
    work = Path(tempfile.mkdtemp(prefix="aoi-soak-"))
    health_path, report_path = work / "health.jsonl", work / "report.json"
    cmd = [
        sys.executable,
        "-m",
        "app",
        "--source",
        args.source,
        "--model",
        args.model,
        "--device",
        args.device,
        "--run-for",
        str(seconds),
        "--max-wait",
        str(args.max_wait),
        "--report",
        str(report_path),
        "--samples",
        str(health_path),
        "--sample-every",
        str(args.interval),
    ]
    env = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")}
    log = (work / "app.log").open("w")
    t0, t0_unix = time.perf_counter(), time.time()
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    ext: list[dict[str, Any]] = []
    health: list[dict[str, Any]] = []
    last_health_t, silence = time.perf_counter(), 0.0
    deadline = t0 + seconds + args.max_wait + 120
    try:
        while proc.poll() is None:
            time.sleep(args.interval)
            now = time.perf_counter()
            s = proc_sample(proc.pid)
            if s is not None:
                ext.append({"t_s": round(now - t0, 1), **s})
            new = read_health(health_path, len(health))
            if new:
                health.extend(new)
                last_health_t = now
            elif health:  # the sampler runs on the GUI thread: silence is a stalled GUI
                silence = max(silence, now - last_health_t)
            if ext and args.verbose:
                h = health[-1] if health else {}
                print(
                    f"{now - t0:7.0f} s  rss {ext[-1]['rss_mb']:7.1f} MB  threads {ext[-1]['threads']:3d}  "
                    f"fds {ext[-1]['fds']:3d}  inspected {h.get('inspected', 0):6d}  "
                    f"gap {h.get('heartbeat_max_gap_ms', 0):6.0f} ms",
                    flush=True,
                )
            if now > deadline:
                proc.send_signal(signal.SIGTERM)  # hung: the run-for timer never fired
                break
    finally:
        rc = proc.wait(60) if proc.poll() is None else proc.returncode
        log.close()
    health.extend(read_health(health_path, len(health)))
    for h in health:  # on the soak's clock, like the process samples
        h["t_s"] = round(h["unix_s"] - t0_unix, 1)
    # the demo model may be fitted before the first frame: warm-up counts from the first inspection
    inspecting_since = next((h["t_s"] for h in health if h["inspected"] > 0), None)
    warmup_s = (inspecting_since or 0.0) + args.warmup_minutes * 60.0
    report = json.loads(report_path.read_text()) if report_path.is_file() else {}
    return {
        "command": "python benchmarks/soak.py " + " ".join(sys.argv[1:]),
        "app_command": " ".join(cmd[1:]),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, {_qt_version()}",
        "minutes": args.minutes,
        "interval_s": args.interval,
        "warmup_s": round(warmup_s, 1),
        "first_inspection_s": None if inspecting_since is None else round(inspecting_since, 1),
        "wall_s": round(time.perf_counter() - t0, 1),
        "exit_code": rc,
        "exit_signal": signal.Signals(-rc).name if rc is not None and rc < 0 else None,
        "work_dir": str(work),  # the app's log, health lines and report
        "app_log_tail": (work / "app.log").read_text()[-3000:],
        "longest_health_silence_s": round(silence, 1),
        "bounds": {
            k: getattr(args, k)
            for k in (
                "max_rss_growth_mb",
                "max_thread_growth",
                "max_fd_growth",
                "max_gap_ms",
                "max_idle_s",
                "max_refcount_drift",
            )
        },
        "app_report": {k: v for k, v in report.items() if k != "notifications"},
        "notifications": report.get("notifications", [])[-20:],
        "process_samples": ext,
        "health_samples": health,
    }


def _qt_version() -> str:
    try:
        import PySide6

        return f"PySide6 {PySide6.__version__}"
    except ImportError:
        return "PySide6 missing"


def summary(doc: dict[str, Any]) -> str:
    ext, health = doc["process_samples"], doc["health_samples"]
    rep = doc["app_report"]
    lines = [
        f"soak {doc['minutes']} min on {doc['machine']} — {'PASS' if doc['passed'] else 'FAIL'}",
        f"  app exit {doc['exit_code']}, first frame inspected after {doc['first_inspection_s']} s, "
        f"warm-up until {doc['warmup_s']} s",
    ]
    if ext:
        rss = [s["rss_mb"] for s in ext]
        lines.append(
            f"  RSS {rss[0]:.0f} → {rss[-1]:.0f} MB (max {max(rss):.0f}); threads {ext[0]['threads']} → "
            f"{ext[-1]['threads']}; open files {ext[0]['fds']} → {ext[-1]['fds']}; "
            f"growth after warm-up {doc.get('growth_after_warmup')}"
        )
    if health:
        gaps = [h["heartbeat_max_gap_ms"] for h in health if h["t_s"] >= doc["warmup_s"]] or [0.0]
        lines.append(
            f"  inspected {rep.get('inspected', health[-1]['inspected'])}, dropped {rep.get('dropped')}, "
            f"fps {rep.get('fps')}, latency median/p95 {rep.get('latency_ms_median')}/"
            f"{rep.get('latency_ms_p95')} ms; GUI heartbeat max gap after warm-up {max(gaps):.0f} ms"
        )
        lines.append(f"  True/None refcount drift after warm-up {doc.get('refcount_drift_after_warmup')}")
    lines += [f"  FAIL: {f}" for f in doc["failures"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=5.0, help="inspection time (default 5; 30 for a release)")
    p.add_argument("--interval", type=float, default=5.0, help="seconds between samples (default 5)")
    p.add_argument(
        "--warmup-minutes",
        type=float,
        default=None,
        help="not judged for growth (default: min(2, minutes/5))",
    )
    p.add_argument("--source", default="simulated")
    p.add_argument("--model", default="demo", help="model folder or 'demo' (fitted on first start)")
    p.add_argument("--device", default="auto")
    p.add_argument("--max-wait", type=float, default=900.0, help="seconds allowed for the first frame")
    p.add_argument("--max-rss-growth-mb", type=float, default=50.0)
    p.add_argument("--max-thread-growth", type=int, default=2)
    p.add_argument("--max-fd-growth", type=int, default=5)
    p.add_argument("--max-gap-ms", type=float, default=2000.0, help="largest GUI heartbeat gap allowed")
    p.add_argument("--max-idle-s", type=float, default=30.0, help="longest time without a new inspection")
    p.add_argument("--max-refcount-drift", type=int, default=2000)
    p.add_argument("--json", type=Path, default=None, help="write every sample and the verdict here")
    p.add_argument("-v", "--verbose", action="store_true", help="print each sample")
    args = p.parse_args(argv)
    if args.warmup_minutes is None:
        args.warmup_minutes = min(2.0, args.minutes / 5)
    if not Path("/proc/self/status").is_file():
        p.error("the soak reads /proc: run it on Linux")
    doc = run(args)
    doc["failures"] = evaluate(doc, args)
    doc["passed"] = not doc["failures"]
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(doc, indent=1))
    print(summary(doc))
    return 0 if doc["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
