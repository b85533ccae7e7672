"""Where the time goes in PatchCore inference on a GPU, and what the obvious speed-ups buy.

Usage: python benchmarks/profile_gpu.py --model-dir DIR --out FILE.json [--device cuda]
Times batch 1 / batch 32 at the model size and one 2448x2048 frame tiled, for: eager fp32 (as
shipped), TF32 matmuls, channels-last, bf16 autocast, CUDA-graph replay; prints the torch profiler's
top operators for the shipped path. Not a test: an investigation tool whose JSON is kept as evidence.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from provenance import record, write_json

from inspection_core.bench import _texture_frame
from inspection_core.inspector import Inspector, Preprocessing
from inspection_core.models.bundle import load_bundle
from inspection_core.models.graphs import GraphedPredict
from inspection_core.training import resolve_device


def timed(fn: Callable[[], Any], dev: torch.device, iters: int, warmup: int = 5) -> dict[str, float]:
    ts = []
    for i in range(warmup + iters):
        torch.cuda.synchronize(dev) if dev.type == "cuda" else None
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize(dev) if dev.type == "cuda" else None
        if i >= warmup:
            ts.append((time.perf_counter() - t0) * 1e3)
    return {"median_ms": float(np.median(ts)), "p95_ms": float(np.percentile(ts, 95))}


@contextlib.contextmanager
def variant(name: str, model: torch.nn.Module) -> Iterator[None]:
    """Temporarily switch a global or model setting."""
    old_tf32 = torch.backends.cuda.matmul.allow_tf32
    predict = model.predict
    try:
        # explicit both ways: resolve_device turns TF32 on for CUDA, the plain variant is full FP32
        torch.backends.cuda.matmul.allow_tf32 = "tf32" in name
        if "cl" in name:
            model.to(memory_format=torch.channels_last)
        if "bf16" in name:

            def predict_bf16(x: torch.Tensor, _p=predict) -> tuple[torch.Tensor, torch.Tensor]:
                with torch.autocast("cuda", dtype=torch.bfloat16):
                    m, s = _p(x)
                return m.float(), s.float()

            model.predict = predict_bf16  # type: ignore[method-assign]
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = old_tf32
        model.to(memory_format=torch.contiguous_format)
        model.predict = predict  # type: ignore[method-assign]


def main() -> int:
    # variants patch model.predict; the Inspector's own CUDA graphs would replay the unpatched one
    # (aoi bench measures those); this script's Graphed section times graph replay explicitly
    os.environ["AOI_CUDA_GRAPHS"] = "0"
    ap = argparse.ArgumentParser()
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--iters", type=int, default=30)
    ap.add_argument("--frame", default="2448x2048", help="WxH of the tiled full frame")
    args = ap.parse_args()
    dev = resolve_device(args.device)
    bundle = load_bundle(args.model_dir, device=dev)
    model = bundle.model
    h, w = model.image_size
    rng = np.random.default_rng(0)
    fw, fh = (int(v) for v in args.frame.split("x"))
    frame = _texture_frame(rng, fh, fw)
    x1 = torch.rand(1, 3, h, w, device=dev)
    x32 = torch.rand(32, 3, h, w, device=dev)
    ref1 = model.predict(x32)[0].float()
    rows: list[dict[str, Any]] = []

    def run_case(name: str, pred: Callable[[torch.Tensor], Any], max_batch: int = 64) -> None:
        with torch.inference_mode():
            r: dict[str, Any] = {"variant": name}
            r["batch1"] = timed(lambda: [t.cpu() for t in pred(x1)], dev, args.iters)
            r["batch32"] = timed(lambda: [t.cpu() for t in pred(x32)], dev, args.iters)
            m = pred(x32)[0].float()
            r["map_rel_err"] = float((m - ref1).abs().max() / ref1.abs().max().clamp_min(1e-9))
        rows.append(r)
        print(json.dumps(r), flush=True)

    for name in ("eager", "tf32", "cl", "tf32+cl", "bf16", "bf16+cl"):
        with variant(name, model):
            run_case(name, model.predict)
    tiled: list[dict[str, Any]] = []
    for name in ("eager", "tf32", "bf16+cl"):
        for mb in (32, 64, 160):
            with variant(name, model):
                insp = Inspector(bundle, preprocessing=Preprocessing(tile=True, max_batch=mb))
                r = {
                    "variant": name,
                    "max_batch": mb,
                    **timed(lambda i=insp: i.inspect(frame), dev, min(10, args.iters), 3),
                }
                raw = insp.predict_raw([frame])[0]
                r["stages_ms"] = {k: round(v, 2) for k, v in raw.timings.items()}
                tiled.append(r)
                print("tiled", json.dumps(r), flush=True)
    graphs: dict[str, Any] = {}
    if dev.type == "cuda":
        try:
            for name in ("eager", "tf32", "bf16+cl"):
                with variant(name, model):
                    g = GraphedPredict(model)  # built inside the variant: captures its predict
                    run_case(f"graph {name}", g)
                    if not g.captured:
                        graphs[name] = "capture failed, timed eagerly (see the log)"
        except Exception as exc:  # noqa: BLE001 - record why graphs failed
            graphs["error"] = repr(exc)
            print("graph capture failed:", repr(exc), flush=True)
    prof_tables = {}
    if dev.type == "cuda":
        from torch.profiler import ProfilerActivity, profile

        insp = Inspector(bundle, preprocessing=Preprocessing(tile=True))
        insp.inspect(frame)
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            insp.inspect(frame)
            torch.cuda.synchronize()
        for key in ("cuda_time_total", "cpu_time_total"):
            table = prof.key_averages().table(sort_by=key, row_limit=25)
            prof_tables[key] = table
            print(table, flush=True)
    out = {
        **record(dev),
        "model_config": model.config.to_dict(),
        "model_input": [h, w],
        "variants": rows,
        "tiled_frame": {"size": args.frame, "results": tiled},
        "graphs": graphs,
        "profiler": prof_tables,
    }
    return write_json(args.out, out)


if __name__ == "__main__":
    raise SystemExit(main())
