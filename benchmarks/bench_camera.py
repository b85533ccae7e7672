"""Acquisition benchmark: sustained frames/s, CPU per frame, copy overhead, frames lost.

Sources: Viky (viky.cti, GenTL simulator) at its largest size, the simulated web at 1024x1024 and
2448x2048, and the copy/convert step alone on a 5-MP Mono8 buffer (the "acquisition adds <= 2 ms
per 5-MP mono8 frame" target). Writes JSON with the exact command, machine and date.

    python benchmarks/bench_camera.py --seconds 3 --json docs/benchmarks/camera_cpu.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from inspection_core.camera import create_source
from inspection_core.camera import pixelformats as pf
from inspection_core.camera.base import FrameSource


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def sustained(src: FrameSource, seconds: float, settings: dict[str, Any]) -> dict[str, Any]:
    """Read as fast as the source delivers for `seconds`; wall fps, process CPU ms per frame, losses."""
    src.open()
    try:
        applied = src.configure(**settings) if settings else {}
        src.start()
        src.read(2.0)  # warm-up (first buffer, lazy init)
        s0 = src.stats()
        n, w0, c0 = 0, time.perf_counter(), time.process_time()
        shape = None
        while time.perf_counter() - w0 < seconds:
            f = src.read(2.0)
            shape = f.image.shape
            n += 1
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        s1 = src.stats()
        src.stop()
    finally:
        src.close()
    return {
        "source": src.info.spec,
        "settings": applied,
        "frame_shape": list(shape or ()),
        "frames": n,
        "fps": round(n / wall, 2),
        "cpu_ms_per_frame": round(cpu / n * 1e3, 3),
        "lost": s1.lost - s0.lost,
        "incomplete": s1.incomplete - s0.incomplete,
        "timeouts": s1.timeouts - s0.timeouts,
    }


def copy_overhead(width: int, height: int, fmt: str, reps: int) -> dict[str, Any]:
    """Median ms of `pixelformats.convert` (the copy out of the driver buffer) on a synthetic buffer."""
    bpp = pf.lookup(fmt).bytes_per_pixel
    buf = np.random.default_rng(0).integers(0, 256, width * height * bpp, dtype=np.uint8)
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        pf.convert(buf, width, height, fmt)
        times.append(time.perf_counter() - t)
    return {
        "width": width,
        "height": height,
        "pixel_format": fmt,
        "median_ms": round(float(np.median(times)) * 1e3, 3),
        "p95_ms": round(float(np.percentile(times, 95)) * 1e3, 3),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=3.0, help="measuring time per source")
    ap.add_argument("--reps", type=int, default=50, help="repetitions of the copy micro-benchmark")
    ap.add_argument("--json", default=None, help="write results here")
    ap.add_argument("--no-viky", action="store_true")
    args = ap.parse_args(argv)

    results: dict[str, Any] = {
        "command": "python " + " ".join([Path(sys.argv[0]).as_posix(), *(argv or sys.argv[1:])]),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpu": _cpu_model(),
            "cores": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "numpy": np.__version__,
        },
        "sustained": [],
        "copy_overhead": [],
    }
    runs: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    if not args.no_viky:
        for fmt in ("Mono8", "RGBa8"):
            runs.append(
                ("genicam:0", {}, {"pixel_format": fmt, "width": 800, "height": 800, "frame_rate": 200.0})
            )
    runs.append(("simulated:1024x1024", {"fps": 0}, {}))
    runs.append(("simulated:2448x2048", {"fps": 0}, {}))
    runs.append(("simulated:1024x1024", {"fps": 15.0}, {}))  # the demo at its real-time rate
    for spec, kw, settings in runs:
        r = sustained(create_source(spec, **kw), args.seconds, settings)
        r["source_kwargs"] = kw
        results["sustained"].append(r)
        print(json.dumps(r), flush=True)
    for w, h, fmt in (
        (2448, 2048, "Mono8"),
        (800, 800, "Mono8"),
        (800, 800, "RGBa8"),
        (2448, 2048, "BayerRG8"),
    ):
        r = copy_overhead(w, h, fmt, args.reps)
        results["copy_overhead"].append(r)
        print(json.dumps(r), flush=True)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
