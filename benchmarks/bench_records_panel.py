"""The Records panel on a big log: how long a page, a filtered page, the last page, a shift's counts
and a CSV export of everything take (all on the records-query thread), and the longest the GUI thread
went without running its event loop meanwhile (it must stay responsive whatever the query costs).

    QT_QPA_PLATFORM=offscreen python benchmarks/bench_records_panel.py --rows 100000 --json FILE

The rows are written by the real Recorder into a temporary station home (10 % NG with one defect of
random area, no images), unless --home names one that already holds them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np


def fill(records: Path, rows: int) -> float:
    from inspection_core.records import RecordContext, Recorder
    from inspection_core.types import Defect, InspectionResult, Verdict

    rec = Recorder(records, save_ng_images=False, queue_size=rows + 10, batch_rows=1000)
    rec.set_context(RecordContext(source="sim", recipe="Tile", recipe_version=1, image_threshold=0.5))
    rng = np.random.default_rng(0)
    z, zm = np.zeros((0, 0), np.float32), np.zeros((0, 0), bool)
    t0 = time.perf_counter()
    for i in range(rows):
        ng = bool(rng.random() < 0.1)
        area = int(rng.integers(10, 5000)) if ng else None
        defects = (Defect(1, (1, 1, 9, 9), area, (5.0, 5.0), 0.9, 0.7),) if area else ()
        verdict = Verdict.NG if ng else Verdict.OK
        rec.submit(None, InspectionResult(i, z, 0.8 if ng else 0.1, verdict, zm, defects, model_name="pc"))
    if not rec.flush(timeout=600):
        sys.exit("the recorder did not commit the rows within 600 s")
    rec.close()
    return time.perf_counter() - t0


def _idle(qapp: Any, seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        qapp.processEvents()
        time.sleep(0.001)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--home", type=Path, default=None, help="station home to use (default: a temporary one)")
    ap.add_argument("--json", type=Path, default=None, metavar="FILE")
    args = ap.parse_args()
    tmp = None
    if args.home is None:
        tmp = tempfile.TemporaryDirectory(prefix="aoi-bench-records-")
        args.home = Path(tmp.name)
    os.environ["AOI_STATION_HOME"] = str(args.home)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from app.panels.records_panel import RecordsPanel
    from app.panels.shift_panel import count_between
    from app.recording import records_dir
    from app.records_query import RecordsQuery

    records = records_dir()
    fill_s = fill(records, args.rows) if not (records / "inspections.sqlite").exists() else None
    qapp = QApplication.instance() or QApplication([])
    query = RecordsQuery()
    panel = RecordsPanel(records, query)
    panel.resize(1200, 700)
    panel.show()
    gap = {"max": 0.0, "last": time.perf_counter()}

    def beat() -> None:
        now = time.perf_counter()
        gap["max"] = max(gap["max"], now - gap["last"])
        gap["last"] = now

    heart = QTimer()
    heart.timeout.connect(beat)
    heart.start(5)

    def wait(cond: Any, timeout_s: float = 600.0) -> float:
        t0 = time.perf_counter()
        while not cond():
            qapp.processEvents()
            time.sleep(0.001)
            if time.perf_counter() - t0 > timeout_s:
                sys.exit("timed out")
        return time.perf_counter() - t0

    gaps: dict[str, float] = {}

    def page_s(action: Any, name: str) -> float:
        gap.update(max=0.0, last=time.perf_counter())
        gen = panel._gen
        action()
        took = wait(lambda: panel._gen > gen and panel.page is not None and not query.pending)
        gaps[name] = round(1000 * gap["max"], 1)
        return took

    out: dict[str, Any] = {
        "command": "python benchmarks/bench_records_panel.py " + " ".join(sys.argv[1:]),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} CPUs, {platform.python_version()}",
        "rows": args.rows,
        "fill_s": None if fill_s is None else round(fill_s, 2),
    }
    gap.update(max=0.0, last=time.perf_counter())
    _idle(qapp, 2.0)
    gaps["idle_baseline"] = round(1000 * gap["max"], 1)  # the machine's own scheduling noise
    out["first_page_s"] = round(page_s(panel.refresh, "first_page"), 3)
    out["total_rows_listed"] = panel.page.total if panel.page else None
    out["last_page_s"] = round(page_s(lambda: panel.go_to(max(0, panel.page.total - 1)), "last_page"), 3)  # type: ignore[union-attr]
    panel.offset = 0
    panel.verdict.setCurrentText("NG")
    panel.min_area.setValue(1000)
    out["ng_min_area_page_s"] = round(page_s(panel.refresh, "ng_min_area_page"), 3)
    got: list[Any] = []
    gap.update(max=0.0, last=time.perf_counter())
    t0 = time.perf_counter()
    query.submit(lambda: count_between(records, 0, time.time_ns()), got.append)
    wait(lambda: bool(got))
    out["shift_counts_s"] = round(time.perf_counter() - t0, 3)
    gaps["shift_counts"] = round(1000 * gap["max"], 1)
    panel.verdict.setCurrentText("all")
    panel.min_area.setValue(0)
    done: list[int] = []
    panel.exported.connect(lambda _p, n: done.append(n))
    csv_path = Path(args.home) / "export.csv"
    gap.update(max=0.0, last=time.perf_counter())
    t0 = time.perf_counter()
    panel.export_csv(csv_path)
    wait(lambda: bool(done))
    out["export_csv_s"] = round(time.perf_counter() - t0, 2)
    out["export_rows"] = done[0]
    gaps["export_csv"] = round(1000 * gap["max"], 1)
    out["gui_max_gap_ms"] = gaps  # per step: the GUI thread's longest time without its event loop
    heart.stop()
    query.shutdown()
    panel.close()
    print(json.dumps(out, indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
