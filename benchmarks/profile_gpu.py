"""Where the time goes in PatchCore inference on a GPU, and what the obvious speed-ups buy.

Usage: python benchmarks/profile_gpu.py --model-dir DIR --out FILE.json [--device cuda]
Times batch 1 / batch 32 at the model size for: the shipped path (TF32 matmuls, channels-last
backbone on CUDA from 4 × 256² input pixels), the backbone in NCHW (before 2026-11-29's fourth session), bf16 autocast, CUDA-graph
replay; one 2448x2048 frame tiled (several max_batch) and in one pass, with stage times; the host
post-processing of that frame's map split into its parts; the torch profiler's top operators.
Not a test: an investigation tool whose JSON is kept as evidence.
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
from inspection_core.postprocess.settings import prepare_map, threshold_map
from inspection_core.runtime import resolve_device


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
def variant(name: str, model: Any) -> Iterator[None]:
    """Temporarily switch the backbone's memory format or wrap predict in bf16 autocast."""
    predict = model.predict
    backbone = model.backbone
    try:
        if "nchw" in name:
            backbone.nhwc_on_cuda = False
        if "bf16" in name:

            def predict_bf16(x: torch.Tensor, _p=predict) -> tuple[torch.Tensor, torch.Tensor]:
                with torch.autocast("cuda", dtype=torch.bfloat16):
                    m, s = _p(x)
                return m.float(), s.float()

            model.predict = predict_bf16
        yield
    finally:
        backbone.nhwc_on_cuda = True
        model.predict = predict


def main() -> int:
    # variants patch model.predict; the Inspector's own CUDA graphs would replay the unpatched one
    # (aoi bench measures those); this script's graph rows time graph replay explicitly
    os.environ["AOI_CUDA_GRAPHS"] = "0"
    ap = argparse.ArgumentParser()
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--iters", type=int, default=30)
    ap.add_argument("--frame", default="2448x2048", help="WxH of the full frame")
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
    with variant("nchw", model), torch.inference_mode():
        ref = model.predict(x32)[0].float()  # the pre-session path is the reference
    rows: list[dict[str, Any]] = []

    def run_case(name: str, pred: Callable[[torch.Tensor], Any]) -> None:
        with torch.inference_mode():
            r: dict[str, Any] = {"variant": name}
            r["batch1"] = timed(lambda: [t.cpu() for t in pred(x1)], dev, args.iters)
            r["batch32"] = timed(lambda: [t.cpu() for t in pred(x32)], dev, args.iters)
            m = pred(x32)[0].float()
            r["map_rel_err"] = float((m - ref).abs().max() / ref.abs().max().clamp_min(1e-9))
        rows.append(r)
        print(json.dumps(r), flush=True)

    for name in ("shipped", "nchw", "bf16"):
        with variant(name, model):
            run_case(name, model.predict)
            if dev.type == "cuda":
                run_case(f"graph {name}", GraphedPredict(model))  # captures this variant's predict
    os.environ["AOI_CUDA_GRAPHS"] = "1"  # frames: as shipped, graphs on
    frames: list[dict[str, Any]] = []
    cases = [("tiled", Preprocessing(tile=True, max_batch=mb)) for mb in (32, 64, 144)]
    cases.append(("whole frame", Preprocessing(tile=True, whole_frame=True)))
    raws = {}
    for mode, pre in cases:
        for name in ("shipped", "nchw"):
            with variant(name, model):
                insp = Inspector(bundle, preprocessing=pre)
                r = {"variant": name, "mode": mode, "max_batch": pre.max_batch}
                r["predict_raw"] = timed(lambda i=insp: i.predict_raw([frame]), dev, min(20, args.iters), 3)
                r["inspect"] = timed(lambda i=insp: i.inspect(frame), dev, min(20, args.iters), 3)
                raw = insp.predict_raw([frame])[0]
                raws[mode] = raw
                r["stages_ms"] = {k: round(v, 2) for k, v in raw.timings.items()}
                frames.append(r)
                print("frame", json.dumps(r), flush=True)
    post = {}
    norm, settings = bundle.normalization, Inspector(bundle).settings
    for mode, raw in raws.items():
        nm = norm.map(raw.raw_map)
        prep = prepare_map(raw.raw_map, raw.raw_score, norm, settings, nm)
        post[mode] = {
            "normalise": timed(lambda r=raw: norm.map(r.raw_map), dev, 20, 2)["median_ms"],
            "prepare (normalised given)": timed(
                lambda r=raw, n=nm: prepare_map(r.raw_map, r.raw_score, norm, settings, n), dev, 20, 2
            )["median_ms"],
            "threshold+regions": timed(lambda p=prep: threshold_map(p, settings), dev, 20, 2)["median_ms"],
            "defects": len(threshold_map(prep, settings).defects),
        }
        print("post", mode, json.dumps(post[mode]), flush=True)
    prof_tables = {}
    if dev.type == "cuda":
        from torch.profiler import ProfilerActivity, profile

        for mode, pre in (cases[0], cases[-1]):
            insp = Inspector(bundle, preprocessing=pre)
            insp.inspect(frame)
            with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
                insp.predict_raw([frame])
                torch.cuda.synchronize()
            table = prof.key_averages().table(sort_by="cuda_time_total", row_limit=20)
            prof_tables[mode] = table
            print(mode, table, flush=True)
    out = {
        **record(dev),
        "model_config": model.config.to_dict(),
        "model_input": [h, w],
        "variants": rows,
        "frame": {"size": args.frame, "results": frames, "host_postprocess_ms": post},
        "profiler_cuda_time": prof_tables,
    }
    return write_json(args.out, out)


if __name__ == "__main__":
    raise SystemExit(main())
