"""GUI benchmark on this machine, offscreen Qt, CPU model → docs/benchmarks/gui_cpu.json.

1. Drawing: frames the live view draws per second with every overlay on (heatmap, outlines, boxes,
   labels, ROI) at 1024×1024 and 2448×2048 mono8 — the full window, each frame forced to paint.
2. End to end: the real window on the simulated web (15 fps) with the demo model for a few seconds:
   latency grab → shown (median/p95), inference time, frames dropped by inference, and the GUI
   heartbeat's largest gap (a 10 ms QTimer; targets: drawing ≥ 30 fps, GUI never blocked > 50 ms,
   latency ≤ inference + one frame period).

    QT_QPA_PLATFORM=offscreen python benchmarks/bench_gui.py --out docs/benchmarks/gui_cpu.json
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

import numpy as np  # noqa: E402
import pyqtgraph as pg  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from app import resources  # noqa: E402
from app.display_data import prepare  # noqa: E402
from app.main_window import MainWindow  # noqa: E402
from inspection_core.camera import open_source  # noqa: E402
from inspection_core.postprocess.normalization import Normalization  # noqa: E402
from inspection_core.postprocess.roi import Roi, RoiShape  # noqa: E402
from inspection_core.postprocess.settings import PostprocessSettings, postprocess_map  # noqa: E402
from inspection_core.types import InspectionResult  # noqa: E402


def _items(w: int, h: int, n: int = 4) -> list:
    """Simulated-web frames with synthetic anomaly maps that have a few defects each."""
    src = open_source(f"simulated:{w}x{h}", fps=0, defect_rate=1.0)
    src.start()
    items = []
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    for i in range(n):
        f = src.read()
        amap = np.zeros((h, w), np.float32)
        for k in range(3):
            cx, cy = w * (0.2 + 0.3 * k), h * (0.3 + 0.15 * i)
            amap += np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * (0.03 * w) ** 2))
        out = postprocess_map(amap, float(amap.max()), Normalization.identity(), PostprocessSettings())
        res = InspectionResult(
            f.frame_id, out.anomaly_map, out.score, out.verdict, out.mask, tuple(out.defects)
        )
        items.append(prepare(f, res, time.perf_counter(), time.perf_counter(), 0))
    src.close()
    return items


def bench_drawing(app: QApplication, w: int, h: int, seconds: float) -> dict:
    win = MainWindow(device="cpu")
    win.resize(1600, 1000)
    win.show()
    win.state.set_roi(Roi((RoiShape.rect(w * 0.05, h * 0.05, w * 0.95, h * 0.95),)))
    items = _items(w, h)
    view = win.live_view.viewport()
    for it in items:  # warm-up (first setImage allocates)
        win.state.show(it)
        view.repaint()
    app.processEvents()
    times = []
    t_end = time.perf_counter() + seconds
    i = 0
    paints0 = win.live_view.paints
    while time.perf_counter() < t_end:
        t0 = time.perf_counter()
        win.state.show(items[i % len(items)])  # every bound widget updates: view, verdict, counters
        app.processEvents()  # offscreen Qt paints the whole window into its backing store here
        times.append(time.perf_counter() - t0)
        i += 1
    paints = win.live_view.paints - paints0
    win.close()
    app.processEvents()
    t = np.asarray(times) * 1e3
    return {
        "frame": f"{w}x{h} mono8",
        "overlays": "heatmap+outlines+boxes+labels+roi",
        "frames": len(times),
        "live_view_paints": paints,
        "draw_fps": round(len(times) / (t.sum() / 1e3), 1),
        "draw_ms_median": round(float(np.median(t)), 2),
        "draw_ms_p95": round(float(np.percentile(t, 95)), 2),
        "draw_ms_max": round(float(t.max()), 2),
    }


def bench_live(app: QApplication, spec: str, seconds: float, fps: float) -> dict:
    win = MainWindow(device="cpu")
    win.resize(1600, 1000)
    win.show()
    win.ensure_demo_model()
    t_fit = time.perf_counter()
    while win.inspector is None:
        app.processEvents()
        time.sleep(0.01)
        if time.perf_counter() - t_fit > 600:
            raise SystemExit("demo model fit took more than 10 minutes")
    win.start(spec, opener=lambda: open_source(spec, fps=fps))
    while win.state.counters.inspected < 3:  # warm-up
        app.processEvents()
        time.sleep(0.002)
    win.state.reset_counters()
    win.heartbeat.reset()
    t_end = time.perf_counter() + seconds
    while time.perf_counter() < t_end:
        app.processEvents()
        time.sleep(0.002)
    gap = win.heartbeat.max_gap_ms
    win.stop()
    snap = win.state.snapshot()
    win.close()
    app.processEvents()
    period = 1000.0 / fps
    return {
        "source": f"{spec} at {fps:g} fps",
        "model": win.state.model_name,
        "seconds": seconds,
        **snap.to_dict(),
        "frame_period_ms": round(period, 2),
        "latency_target_ms": round(snap.inference_ms_median + period, 1),
        "gui_heartbeat_max_gap_ms": round(gap, 2),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("docs/benchmarks/gui_cpu.json"))
    p.add_argument("--draw-seconds", type=float, default=5.0)
    p.add_argument("--live-seconds", type=float, default=20.0)
    args = p.parse_args()
    if "AOI_STATION_HOME" not in os.environ:  # records, logs and the demo cache of this run stay apart
        import tempfile

        os.environ["AOI_STATION_HOME"] = tempfile.mkdtemp(prefix="aoi-bench-gui-")
    import torch

    pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    resources.apply(app)  # the station's stylesheet: draw what the operator sees
    load_before = os.getloadavg()
    drawing = [bench_drawing(app, w, h, args.draw_seconds) for w, h in ((1024, 1024), (2448, 2048))]
    live = [
        bench_live(app, "simulated", args.live_seconds, 15.0),
        bench_live(app, "simulated:2448x2048", args.live_seconds, 15.0),
    ]
    doc = {
        "command": "QT_QPA_PLATFORM=offscreen python benchmarks/bench_gui.py " + " ".join(sys.argv[1:]),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": f"{platform.node()} {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        "load_average_1m_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "note": "shared 2-core machine; other jobs were running (see load average)",
        "qt_platform": os.environ.get("QT_QPA_PLATFORM"),
        "torch_threads": torch.get_num_threads(),
        "drawing": drawing,
        "live": live,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2))
    print(json.dumps(doc, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
