"""Time from the last click on "capture" to a deployed model (issue #6), default model, headless.

It runs exactly what the training workspace runs, minus the widgets: `SampleSet.add_frame` for the
last capture (PNG + sidecar written), `train_sample_set` (read samples, hold out 20 %, fit, calibrate,
validate), `deploy_product` (model + new recipe version saved atomically) and the Inspector the live
side swaps in, followed by its first inspected frame. Samples are 1024x1024 frames of the simulated
web (defect rate 0); the earlier captures are written before the clock starts.

    python benchmarks/bench_capture_to_deploy.py --samples 24 200 --device cpu \
        --out docs/benchmarks/capture_to_deploy_cpu.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from inspection_core.camera import open_source
from inspection_core.inspector import Inspector
from inspection_core.recipes import RecipeStore
from inspection_core.runtime.context import FitContext, device_label, resolve_device
from inspection_core.training.product import DEFAULT_MODEL, deploy_product, train_sample_set
from inspection_core.training.samples import SampleSet


def run_once(n: int, size: int, device: torch.device, root: Path, options: dict[str, Any]) -> dict[str, Any]:
    store = RecipeStore(root / f"recipes-{n}")
    samples = SampleSet(store.product_dir(f"bench-{n}") / "samples")
    src = open_source(f"simulated:{size}x{size}", defect_rate=0.0, fps=0, seed=n)
    src.start()
    try:
        frames = [src.read() for _ in range(n)]
    finally:
        src.stop()
        src.close()
    for f in frames[:-1]:
        samples.add_frame(f)
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()  # the last click on "capture"
    samples.add_frame(frames[-1])
    t1 = time.perf_counter()
    result = train_sample_set(samples, DEFAULT_MODEL, options, ctx=FitContext(device=device))
    t2 = time.perf_counter()
    recipe = deploy_product(store, f"bench-{n}", result, source="bench_capture_to_deploy")
    inspector = Inspector(result.bundle, recipe.postprocess, recipe.preprocessing)
    t3 = time.perf_counter()
    first = inspector.inspect(frames[0])
    if device.type == "cuda":
        torch.cuda.synchronize()
    t4 = time.perf_counter()
    return {
        "samples": n,
        "frame": f"{size}x{size}",
        "n_train": result.bundle.info["n_train"],
        "n_holdout": result.bundle.info["n_holdout"],
        "seconds": {
            "last_capture_write": round(t1 - t0, 3),
            "read_samples": round(result.timings_s["load"], 3),
            "fit": round(result.timings_s["fit"], 3),
            "calibrate_and_validate": round(result.timings_s["calibrate_validate"], 3),
            "deploy_save_recipe": round(t3 - t2, 3),
            "capture_to_deployed": round(t3 - t0, 3),
            "first_live_frame": round(t4 - t3, 3),
        },
        "first_frame_verdict": str(first.verdict),
        "recipe_version": recipe.version,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, nargs="+", default=[24, 200])
    ap.add_argument("--size", type=int, default=1024, help="frame side in px")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = leave as is)")
    ap.add_argument("--option", action="append", default=[], metavar="K=V", help="model option (JSON value)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    options = {k: json.loads(v) for k, v in (o.split("=", 1) for o in args.option)}
    runs = []
    with tempfile.TemporaryDirectory(prefix="aoi-bench-") as tmp:
        for n in args.samples:
            r = run_once(n, args.size, device, Path(tmp), options)
            print(json.dumps(r), flush=True)
            runs.append(r)
    report = {
        "benchmark": "capture_to_deploy",
        "load_average_1min_at_end": round(os.getloadavg()[0], 2),
        "command": "python " + " ".join(shlex.quote(a) for a in [sys.argv[0], *(argv or sys.argv[1:])]),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {
            "host": platform.node(),
            "cpu": platform.processor() or platform.machine(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "device": device_label(device),
        },
        "model": DEFAULT_MODEL,
        "options": options or "defaults",
        "runs": runs,
    }
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
