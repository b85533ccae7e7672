"""The tuning slider end to end in the GUI: one pixel-threshold move on a frozen 2448x2048 frame.

Times `FrameTuner` (offscreen Qt) from the spin-box edit to everything redrawn: FrozenFrame.apply
(threshold, morphology, regions, verdict), heatmap image + colour table, defect outlines, defect table,
histogram line, and a forced repaint of the widget. bench_rethreshold.py covers the core part alone.

    QT_QPA_PLATFORM=offscreen python benchmarks/bench_tuning_redraw.py --out docs/benchmarks/tuning_redraw_cpu.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from app import resources  # noqa: E402
from app.tuning.frame_tuner import FrameTuner  # noqa: E402
from app.tuning.session import TuningSession  # noqa: E402
from inspection_core.calibration import FrozenFrame  # noqa: E402
from inspection_core.inspector import RawPrediction  # noqa: E402
from inspection_core.postprocess import Normalization  # noqa: E402


def frozen_frame(h: int, w: int, seed: int = 0) -> tuple[FrozenFrame, np.ndarray]:
    """A smooth raw map (good texture ~ N(1, 0.1)) with 12 blobs scoring 2-4x, and a textured image."""
    rng = np.random.default_rng(seed)
    raw = cv2.GaussianBlur(rng.normal(1.0, 0.3, (h, w)).astype(np.float32), (0, 0), 6)
    for _ in range(12):
        y, x = int(rng.integers(50, h - 50)), int(rng.integers(50, w - 50))
        cv2.circle(raw, (x, y), int(rng.integers(5, 40)), float(rng.uniform(2, 4)), -1)
    image = np.clip(rng.normal(128, 20, (h, w)), 0, 255).astype(np.uint8)
    norm = Normalization(image_threshold=1.6, image_reference=1.0, pixel_threshold=1.4, pixel_reference=1.0)
    return FrozenFrame(RawPrediction(raw, float(raw.max()), {}), norm), image


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="2448x2048", help="WxH")
    ap.add_argument("--moves", type=int, default=40)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    w, h = (int(v) for v in args.size.split("x"))
    app = QApplication.instance() or QApplication([])
    resources.apply(app)  # the station's stylesheet: draw what the operator sees
    frozen, image = frozen_frame(h, w)
    tuner = FrameTuner(TuningSession())
    tuner.resize(1400, 900)
    tuner.show()
    tuner.set_frozen(frozen, image)
    app.processEvents()
    values = np.linspace(0.45, 0.75, args.moves)
    times, core = [], []
    for v in values:
        t0 = time.perf_counter()
        tuner.controls.pixel.setValue(float(v))  # → session → FrozenFrame.apply → redraw
        tuner.repaint()
        app.processEvents()
        times.append((time.perf_counter() - t0) * 1e3)
        core.append(tuner.result.timings["postprocess"])
    t = np.array(times[2:])  # the first moves build the prepared-map cache
    report = {
        "benchmark": "tuning_redraw",
        "command": "QT_QPA_PLATFORM=offscreen python benchmarks/bench_tuning_redraw.py "
        + " ".join(argv or sys.argv[1:]),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {
            "host": platform.node(),
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
        },
        "frame": f"{w}x{h}",
        "moves": len(t),
        "defects_last_move": len(tuner.result.defects),
        "ms_total_median": round(float(np.median(t)), 2),
        "ms_total_p90": round(float(np.percentile(t, 90)), 2),
        "ms_core_apply_median": round(float(np.median(core[2:])), 2),
        "note": "offscreen Qt; total = spin-box edit to repainted widget, core = FrozenFrame.apply",
    }
    print(json.dumps(report, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    tuner.close()
    tuner.deleteLater()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
