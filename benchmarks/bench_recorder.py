"""The inspection recorder: rows/s it commits to SQLite, and the time `submit()` costs the inference
thread (the target is ≤ 0.2 ms a frame).

Two runs in a temporary folder: (1) `--rows` OK results submitted as fast as possible (the queue is
large enough to keep them all), then flushed: committed rows/s and the submit time while the writer
competes for the GIL; (2) `--seconds` at `--fps` with every 10th part NG and its image saved (PNG
raw + overlay): submit time at line rate.

`--url postgresql://user@host/db` runs the same on PostgreSQL (its `inspections` table is appended
to; use an empty database) instead of an SQLite file in the temporary folder.

Usage: python benchmarks/bench_recorder.py --json FILE [--url postgresql://…]
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

import numpy as np

from inspection_core.records import RecordContext, Recorder
from inspection_core.records.db import display_url
from inspection_core.types import Defect, InspectionResult, Verdict


def _results(n: int, size: int) -> list[InspectionResult]:
    amap = np.zeros((size, size), np.float32)
    mask = np.zeros((size, size), bool)
    amap[10:30, 10:40] = 2.0
    mask[10:30, 10:40] = True
    ng = (Defect(1, (10, 10, 40, 30), 600, (25.0, 20.0), 2.0, 2.0, 0.15),)
    return [
        InspectionResult(
            i,
            amap,
            0.9 if i % 10 == 0 else 0.2,
            Verdict.NG if i % 10 == 0 else Verdict.OK,
            mask,
            ng if i % 10 == 0 else (),
            {"model": 20.0, "total": 25.0},
            0.0,
            "patchcore",
        )  # fmt: skip
        for i in range(n)
    ]


def _pct(xs: list[float]) -> dict[str, float]:
    a = np.asarray(xs) * 1e3
    return {"median_ms": float(np.median(a)), "p99_ms": float(np.percentile(a, 99)), "max_ms": float(a.max())}


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _soak(directory: Path, n: int, ctx: RecordContext, url: str | None = None) -> dict:
    """N inspections through one recorder, in chunks of 2,000 as fast as it takes them."""
    import threading

    rec = Recorder(directory, min_free_mb=0, quota_mb=5, context=ctx, url=url)
    image = (np.random.default_rng(1).random((64, 64)) * 255).astype(np.uint8)
    results = _results(2000, 64)
    t0 = time.perf_counter()
    base: tuple[float, int] | None = None
    for i in range(0, n, 2000):
        for r in results[: min(2000, n - i)]:
            rec.submit(image, r)
        assert rec.flush(600)
        if base is None and i + 2000 >= n // 10:
            base = (_rss_mb(), threading.active_count())
    wall = time.perf_counter() - t0
    end = (_rss_mb(), threading.active_count())
    rec.close()
    assert base is not None
    return {"inspections": n, "seconds": round(wall, 1), "written": rec.written, "dropped": rec.dropped,
            "images_saved": rec.images_saved, "images_skipped": rec.images_skipped, "images_deleted_by_quota": rec.store.deleted if rec.store else 0,
            "rss_mb_at_10pct": round(base[0], 1), "rss_mb_end": round(end[0], 1),
            "threads_at_10pct": base[1], "threads_end": end[1]}  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", required=True, metavar="FILE", help="where to write the results")
    ap.add_argument("--rows", type=int, default=20_000, help="rows for the throughput run")
    ap.add_argument("--seconds", type=float, default=5.0, help="length of the line-rate run")
    ap.add_argument("--fps", type=float, default=30.0, help="frames per second of the line-rate run")
    ap.add_argument("--size", type=int, default=512, help="frame and map size in px (square)")
    ap.add_argument(
        "--soak",
        type=int,
        default=0,
        metavar="N",
        help="also N inspections of 64x64 frames (every 10th NG, its images saved while fewer than 8 wait, a 5 MB image quota): "
        "RSS and thread count after the first 10%% and at the end",
    )
    ap.add_argument(
        "--url", default=None, help="records database URL (postgresql://…); default: SQLite in a temp folder"
    )
    args = ap.parse_args()
    ctx = RecordContext(
        source="bench", recipe="tile", recipe_version=1, image_threshold=0.5, pixel_threshold=0.5
    )
    out: dict = {
        "command": " ".join(["python", *sys.argv]),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}",
        "python": sys.version.split()[0],
        "date": time.strftime("%Y-%m-%d"),
        "database": display_url(args.url) if args.url else "sqlite (temporary file)",
    }
    image = (np.random.default_rng(0).random((args.size, args.size)) * 255).astype(np.uint8)
    with tempfile.TemporaryDirectory() as d:
        rec = Recorder(
            Path(d) / "a", save_ng_images=False, queue_size=args.rows + 1, context=ctx, url=args.url
        )
        results = _results(args.rows, args.size)
        ts = []
        t0 = time.perf_counter()
        for r in results:
            s = time.perf_counter()
            rec.submit(None, r)
            ts.append(time.perf_counter() - s)
        assert rec.flush(600)
        wall = time.perf_counter() - t0
        rec.close()
        out["throughput"] = {"rows": rec.written, "dropped": rec.dropped, "seconds": round(wall, 3),
                             "rows_per_s": round(rec.written / wall), "submit": _pct(ts)}  # fmt: skip

        rec = Recorder(Path(d) / "b", save_ng_images=True, min_free_mb=0, context=ctx, url=args.url)
        n = int(args.seconds * args.fps)
        results = _results(n, args.size)
        ts = []
        t0 = time.perf_counter()
        for i, r in enumerate(results):
            while time.perf_counter() - t0 < i / args.fps:
                time.sleep(0.0005)
            s = time.perf_counter()
            rec.submit(image, r)
            ts.append(time.perf_counter() - s)
        assert rec.flush(120)
        rec.close()
        out["line_rate"] = {"fps": args.fps, "frames": n, "written": rec.written, "dropped": rec.dropped,
                            "ng_images_saved": rec.images_saved, "submit": _pct(ts)}  # fmt: skip
        if args.soak:
            out["soak"] = _soak(Path(d) / "c", args.soak, ctx, args.url)
    Path(args.json).write_text(json.dumps(out, indent=1))
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
