"""Latency/throughput measurement behind `aoi bench` (model + post-processing, frames of any size)."""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
import torch

import inspection_core
from inspection_core.inspector import Inspector, Preprocessing
from inspection_core.models.backends import with_backend
from inspection_core.models.bundle import ModelBundle
from inspection_core.models.graphs import graph_eligible
from inspection_core.runtime.context import device_label
from inspection_core.types import InspectionResult


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize()


def _stats(times: list[float], n_images: int) -> dict[str, float]:
    t = np.array(times) * 1e3
    return {
        "median_ms": float(np.median(t)),
        "p95_ms": float(np.percentile(t, 95)),
        "mean_ms": float(t.mean()),
        "images_per_s": float(n_images / (np.median(t) / 1e3)),
        "iters": len(times),
    }


def _texture_frame(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A plausible good surface (blurred noise around mid-grey): white noise would be one giant
    'defect' and make post-processing look far slower than on real frames."""
    f = rng.normal(128, 20, (h, w)).astype(np.float32)
    return np.clip(cv2.GaussianBlur(f, (0, 0), 1.5), 0, 255).astype(np.uint8)


def mosaic_frame(images: list[np.ndarray], h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """An (h, w) uint8 grey frame tiled from real good images at their own scale (random order), so
    the benchmark's post-processing sees what a good part gives, not a frame the model finds odd."""
    out = np.empty((h, w), np.uint8)
    y = 0
    while y < h:
        x, row_h = 0, 0
        while x < w:
            im = images[int(rng.integers(len(images)))]
            g = im if im.ndim == 2 else cv2.cvtColor(np.ascontiguousarray(im[..., :3]), cv2.COLOR_RGB2GRAY)
            g = g if g.dtype == np.uint8 else (g / max(1, int(g.max())) * 255).astype(np.uint8)
            row_h = row_h or min(g.shape[0], h - y)  # the row's first image sets its height
            pw = min(g.shape[1], w - x)
            reps = -(-row_h // g.shape[0])  # a shorter image repeats downwards to fill the row
            out[y : y + row_h, x : x + pw] = np.tile(g[:, :pw], (reps, 1))[:row_h]
            x += pw
        y += row_h
    return out


def _time(fn: Callable[[], Any], dev: torch.device, n: int, warmup: int) -> list[float]:
    times = []
    for i in range(warmup + n):
        _sync(dev)
        t0 = time.perf_counter()
        fn()
        _sync(dev)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return times


def _frame_row(
    insp: Inspector,
    frame: np.ndarray,
    case: str,
    kind: str,
    mode: str,
    overlap: float,
    tile: bool,
    dev: torch.device,
    iters: int,
    warmup: int,
) -> dict[str, Any]:
    """One frame case with post-processing: latency, stage medians and what was found."""
    # like a live loop, only the last result is kept (results' memory is recycled); stage times of all
    last: list[InspectionResult] = []
    seen: list[dict[str, float]] = []

    def once(f: np.ndarray = frame, i: Inspector = insp) -> None:
        r = i.inspect(f)
        last[:] = [r]
        seen.append(r.timings)

    times = _time(once, dev, max(5, iters // 5) if tile else iters, warmup)
    res = last[0]
    timed = seen[warmup:]  # stage times of the timed calls (the first ones include warm-up)
    stages = {k: float(np.median([t.get(k, 0.0) for t in timed])) for k in res.timings}
    return {
        "case": case,
        "batch": 1,
        "tiled": tile,
        "frame": kind,
        "overlap": overlap if mode == "tiled" else None,
        "whole_frame": mode == "whole frame",
        "post": "device" if insp.posts_on_device else "host",
        "mask_fraction": float(res.mask.mean()),
        "defects": len(res.defects),
        "stages_ms": {k: round(v, 2) for k, v in stages.items()},  # medians
        **_stats(times, 1),
    }


def bench_model(
    bundle: ModelBundle,
    sizes: list[tuple[int, int]],
    batches: list[int],
    iters: int = 50,
    warmup: int = 5,
    good_images: list[np.ndarray] | None = None,
    overlap: float = Preprocessing.overlap,
    whole_frame: bool = False,
    backends: list[str] | None = None,
) -> dict[str, Any]:
    """Time the model at its input size for each batch (model only: eager calls, and CUDA-graph replay
    where the Inspector uses it), and full frames of each size with post-processing (tiled when larger
    than the model input, or in one pass with `whole_frame` where the model allows it); a large frame
    also gets a row for its inference alone, up to the stitched map on the host ("to map"). Frames are a
    synthetic texture, and with `good_images` also a mosaic of them; each frame row records how much of
    it post-processing had to label (`mask_fraction`).

    backends: run every case on each ('torch', 'onnxruntime', 'auto'; default the bundle's own), rows
    side by side; each row names its `backend` and a `label` (backend: case)."""
    results = []
    for name in backends or [None]:
        b = bundle if name is None else with_backend(bundle, name)
        rows = _bench_backend(b, sizes, batches, iters, warmup, good_images, overlap, whole_frame)
        results += [{"backend": b.backend, "label": f"{b.backend}: {r['case']}", **r} for r in rows]
    model = bundle.model
    return {
        "model": bundle.name,
        "config": model.config.to_dict(),
        "device": device_label(model.device),
        "torch": torch.__version__,
        "backends": list(dict.fromkeys(r["backend"] for r in results)),
        "host": platform.node(),
        "cpu_threads": torch.get_num_threads(),
        "aoi_version": inspection_core.__version__,
        "date": time.strftime("%Y-%m-%d %H:%M:%S%z"),
        "results": results,
    }


def _bench_backend(
    bundle: ModelBundle,
    sizes: list[tuple[int, int]],
    batches: list[int],
    iters: int,
    warmup: int,
    good_images: list[np.ndarray] | None,
    overlap: float,
    whole_frame: bool,
) -> list[dict[str, Any]]:
    """bench_model's rows for one backend (the bundle's)."""
    model = bundle.model
    dev = model.device
    h, w = model.image_size
    rng = np.random.default_rng(0)
    results = []
    for b in batches:
        x = torch.rand(b, 3, h, w, device=dev)
        graphed = graph_eligible(model, tuple(x.shape), dev.type)  # what bundle.predict will do
        if bundle.backend != "torch":
            paths = [(bundle.backend, bundle.predict)]
        else:
            paths = [("eager", model.predict)] + ([("cuda graph", bundle.predict)] if graphed else [])
        for label, predict in paths:

            def once(p: Callable = predict, x: torch.Tensor = x) -> None:
                with torch.inference_mode():
                    m, s = p(x)
                    m.cpu(), s.cpu()

            times = _time(once, dev, iters, warmup)
            results.append({"case": f"model {w}x{h} batch {b} {label}", "batch": b, **_stats(times, b)})
    frames: list[tuple[str, Callable[[int, int], np.ndarray]]] = [
        ("synthetic", lambda fh, fw: _texture_frame(rng, fh, fw))
    ]
    if good_images:
        frames.append(("good mosaic", lambda fh, fw: mosaic_frame(good_images, fh, fw, rng)))
    for fh, fw in sizes:
        tile = fh > h or fw > w
        insp = Inspector(
            bundle, preprocessing=Preprocessing(tile=tile, overlap=overlap, whole_frame=whole_frame)
        )
        mode = "resized" if not tile else "whole frame" if insp.whole_frame else "tiled"
        for kind, make in frames:
            frame = make(fh, fw)
            if tile and kind == frames[0][0]:
                # the large frame's inference alone (tiles → model → stitched map on the host): what a
                # latency target for "a frame tiled at N" measures; the +post rows add the rest
                times = _time(lambda f=frame, i=insp: i.predict_raw([f]), dev, max(5, iters // 5), warmup)
                results.append(
                    {
                        "case": f"frame {fw}x{fh} {mode} to map ({kind})",
                        "batch": 1,
                        "tiled": True,
                        "frame": kind,
                        "overlap": overlap if mode == "tiled" else None,
                        "whole_frame": mode == "whole frame",
                        **_stats(times, 1),
                    }
                )
            # a GPU post-processes large frames on the device; the host's way gets a row beside it
            posts = [(insp, "+post")]
            if insp.posts_on_device:
                host = Inspector(bundle, preprocessing=insp.preprocessing, post_on_device=False)
                posts.append((host, "+host post"))
            for pinsp, what in posts:
                case = f"frame {fw}x{fh} {mode} {what} ({kind})"
                results.append(_frame_row(pinsp, frame, case, kind, mode, overlap, tile, dev, iters, warmup))
    return results
