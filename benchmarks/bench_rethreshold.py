"""Re-thresholding a frozen 2448x2048 frame: what the tuning slider costs (target <= 30 ms on CPU).

Measures the GUI-free core — `FrozenFrame.apply(settings)`: ROI, threshold, morphology, connected
regions, per-region statistics and the verdict — from a cached anomaly map, over a sweep of slider
positions. Drawing is the GUI's part and is not included. Writes docs/benchmarks/rethreshold_cpu.json.

    python benchmarks/bench_rethreshold.py [--json docs/benchmarks/rethreshold_cpu.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from inspection_core.calibration import FrozenFrame
from inspection_core.inspector import RawPrediction
from inspection_core.postprocess import Normalization, PostprocessSettings, Roi, RoiShape

H, W = 2048, 2448


def synthetic_raw_map(seed: int = 0) -> np.ndarray:
    """A raw map like PatchCore's on a textured surface: smooth background, a few real defects, and
    speckles near the threshold so that low slider positions produce many small regions."""
    rng = np.random.default_rng(seed)
    small = rng.normal(1.0, 0.15, (H // 8, W // 8)).astype(np.float32)
    raw = cv2.resize(cv2.GaussianBlur(small, (0, 0), 1.0), (W, H), interpolation=cv2.INTER_LINEAR)
    for _ in range(12):
        cy, cx = int(rng.integers(100, H - 100)), int(rng.integers(100, W - 100))
        blob = np.zeros((H, W), np.uint8)
        cv2.ellipse(blob, (cx, cy), (int(rng.integers(8, 60)), int(rng.integers(4, 25))), float(rng.uniform(0, 180)),
                    0, 360, 1, -1)  # fmt: skip
        raw += cv2.GaussianBlur(blob.astype(np.float32), (0, 0), 4.0) * float(rng.uniform(1.0, 2.5))
    return raw


def timeit(fn: Callable[[], object], iters: int) -> dict[str, float]:
    """Wall time and this process's CPU time per call. On a loaded shared machine the wall time
    includes waiting for a core; the CPU time is close to the wall time the call takes on an idle one."""
    fn()  # warm-up (allocations, OpenCV thread pool)
    wall, cpu = [], []
    for _ in range(iters):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        wall.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
    a, c = np.array(wall), np.array(cpu)
    return {
        "median_ms": float(np.median(a)),
        "p95_ms": float(np.percentile(a, 95)),
        "min_ms": float(a.min()),
        "cpu_median_ms": float(np.median(c)),
        "cpu_p95_ms": float(np.percentile(c, 95)),
        "iters": iters,
    }


def sweep(ff: FrozenFrame, base: PostprocessSettings, thresholds: np.ndarray) -> Callable[[], object]:
    """One call = one slider position; successive calls walk the sweep like a dragged slider."""
    state = {"i": 0}

    def step() -> object:
        t = float(thresholds[state["i"] % len(thresholds)])
        state["i"] += 1
        return ff.apply(base.with_(pixel_threshold=t))

    return step


def _line(r: dict[str, float]) -> str:
    return (
        f"wall median {r['median_ms']:7.2f} ms  p95 {r['p95_ms']:7.2f} ms  |  "
        f"cpu median {r['cpu_median_ms']:6.2f} ms  p95 {r['cpu_p95_ms']:6.2f} ms"
    )


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", default="docs/benchmarks/rethreshold_cpu.json")
    ap.add_argument("--iters", type=int, default=60)
    args = ap.parse_args(argv)

    raw = synthetic_raw_map()
    good = raw[raw < np.quantile(raw, 0.95)]
    norm = Normalization(image_threshold=float(np.quantile(raw, 0.999)), image_reference=float(np.median(good)),
                         pixel_threshold=float(np.quantile(raw, 0.995)), pixel_reference=float(np.median(good)))  # fmt: skip
    pred = RawPrediction(raw, float(raw.max()), {})
    ff = FrozenFrame(pred, norm)
    slider = np.linspace(0.35, 0.85, 26)  # the pixel-threshold slider, both low (noisy) and high
    roi = Roi((
        RoiShape.rect(40, 40, W - 40, H - 40),
        RoiShape.polygon([(0, 0), (300, 0), (0, 300)]),
        RoiShape.rect(1000, 800, 1300, 1100, ignore=True),
    ))  # fmt: skip
    cases = {
        "threshold slider (cached map)": sweep(ff, PostprocessSettings(), slider),
        "threshold slider + min area 50 px": sweep(ff, PostprocessSettings(min_defect_area=50), slider),
        "threshold slider + ROI (2 include, 1 ignore)": sweep(ff, PostprocessSettings(roi=roi), slider),
        "threshold slider, smoothing 2 px (cached)": sweep(
            ff, PostprocessSettings(smoothing_sigma=2.0), slider
        ),
        "first apply after freeze (normalise + regions)": lambda: FrozenFrame(pred, norm).apply(
            PostprocessSettings()
        ),
    }
    results = []
    for name, fn in cases.items():
        r = {"case": name, **timeit(fn, args.iters)}
        results.append(r)
        print(f"{name:<50} {_line(r)}")
    n_regions = [len(ff.apply(PostprocessSettings(pixel_threshold=float(t))).defects) for t in slider]
    target = 30.0
    core = [r for r in results if r["case"].startswith("threshold slider")]
    report = {
        "benchmark": "re-threshold a frozen 2448x2048 frame (mask + regions + verdict, no drawing)",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "date": time.strftime("%Y-%m-%d %H:%M:%S%z"),
        "machine": {
            "cpu": cpu_name(),
            "cores": os.cpu_count(),
            "load_avg_1m": os.getloadavg()[0],
            "opencv_threads": cv2.getNumThreads(),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "opencv": cv2.__version__,
        },
        "frame": [W, H],
        "slider_positions": [round(float(t), 3) for t in slider],
        "regions_per_position": n_regions,
        "target_ms": target,
        "meets_target_wall_p95": all(r["p95_ms"] <= target for r in core),
        "meets_target_cpu_p95": all(r["cpu_p95_ms"] <= target for r in core),
        "results": results,
        "notes": "Shared 2-core machine with other engineers' jobs running (see load_avg_1m): wall times "
        "include waiting for a core and are upper bounds; cpu_* is this process's CPU time per call. "
        "'first apply' normalises the raw map, done once per frozen frame, not per slider move; ROI and "
        "smoothing are cached per (sigma, ROI) by FrozenFrame.",
    }
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(
        f"wrote {out}; {target:g} ms target (p95, slider cases): wall {report['meets_target_wall_p95']}, "
        f"cpu {report['meets_target_cpu_p95']} (load average {report['machine']['load_avg_1m']:.1f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
