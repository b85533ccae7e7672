"""Interleaved A/B timing of exported models in ONNX Runtime on this CPU.

`aoi bench` times one backend after another; on a shared or virtualised CPU the machine's own speed
drifts by more than a small change to a model's graph is worth (±3 ms on a ~20 ms frame on the 2-core
development VM). Here the files take turns: each round times every file for `--iters` runs, so a slow
spell hits them alike, and the per-round difference says which is faster and by how much.

    python benchmarks/bench_onnx_ab.py OLD/model.onnx NEW/model.onnx --rounds 20 --json FILE

Each argument is an `.onnx` file or a model folder holding `model.onnx` (`aoi export`). The first file is
the reference; the JSON records every round's median, the command, the machine and the date.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np


def _path(arg: str) -> Path:
    p = Path(arg)
    return p / "model.onnx" if p.is_dir() else p


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="+", help=".onnx files or model folders (the first is the reference)")
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--iters", type=int, default=10, help="runs per file per round")
    ap.add_argument("--threads", type=int, default=0, help="ONNX Runtime intra-op threads (0 = CPU count)")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--json", help="write the rounds and the summary here")
    args = ap.parse_args(argv)

    import onnxruntime as ort

    paths = [_path(m) for m in args.models]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        sys.exit(f"bench_onnx_ab: no such ONNX file: {', '.join(missing)}")
    threads = args.threads or os.cpu_count() or 1
    sessions = []
    for p in paths:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        sessions.append(ort.InferenceSession(str(p), opts, providers=["CPUExecutionProvider"]))
    inp = sessions[0].get_inputs()[0]
    h, w = (int(d) for d in inp.shape[-2:])
    x = np.random.default_rng(0).random((args.batch, 3, h, w), dtype=np.float32)
    for s in sessions:  # warm-up: allocations and kernel choices out of the timed rounds
        for _ in range(5):
            s.run(None, {inp.name: x})
    rounds: list[list[float]] = [[] for _ in sessions]
    for _ in range(args.rounds):
        for i, s in enumerate(sessions):
            ts = []
            for _ in range(args.iters):
                t0 = time.perf_counter()
                s.run(None, {inp.name: x})
                ts.append(time.perf_counter() - t0)
            rounds[i].append(float(np.median(ts) * 1e3))
    ref = np.array(rounds[0])
    summary = []
    for p, r in zip(paths, rounds, strict=True):
        diff = ref - np.array(r)
        row = {
            "model": str(p),
            "median_ms": round(float(np.median(r)), 3),
            "min_ms": round(min(r), 3),
            "max_ms": round(max(r), 3),
            "faster_than_reference_ms": round(float(np.median(diff)), 3),
            "rounds_faster": int((diff > 0).sum()),
        }
        summary.append(row)
        print(
            f"{p}: median {row['median_ms']:.2f} ms (min {row['min_ms']:.2f}, max {row['max_ms']:.2f}); "
            f"vs the first: {row['faster_than_reference_ms']:+.2f} ms faster, in {row['rounds_faster']} "
            f"of {args.rounds} rounds"
        )
    if args.json:
        doc = {
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "date": time.strftime("%Y-%m-%d %H:%M:%S%z"),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}",
            "onnxruntime": ort.__version__,
            "threads": threads,
            "input": [args.batch, 3, h, w],
            "summary": summary,
            "rounds_ms": {str(p): r for p, r in zip(paths, rounds, strict=True)},
        }
        Path(args.json).write_text(json.dumps(doc, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
