"""Latency/throughput measurement behind `aoi bench` (model + post-processing, frames of any size)."""

from __future__ import annotations

import platform
import time
from typing import Any

import numpy as np
import torch

import inspection_core
from inspection_core.inspector import Inspector, Preprocessing
from inspection_core.models.bundle import ModelBundle
from inspection_core.training.context import device_label


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
    import cv2

    f = rng.normal(128, 20, (h, w)).astype(np.float32)
    return np.clip(cv2.GaussianBlur(f, (0, 0), 1.5), 0, 255).astype(np.uint8)


def bench_model(
    bundle: ModelBundle, sizes: list[tuple[int, int]], batches: list[int], iters: int = 50, warmup: int = 5
) -> dict[str, Any]:
    """Time the model at its input size for each batch (model only, and model + post-processing at
    batch 1), and full frames of each size (tiled when larger than the model input)."""
    model = bundle.model
    dev = model.device
    h, w = model.image_size
    rng = np.random.default_rng(0)
    results = []
    for b in batches:
        x = torch.rand(b, 3, h, w, device=dev)
        times = []
        with torch.inference_mode():
            for i in range(warmup + iters):
                _sync(dev)
                t0 = time.perf_counter()
                m, s = model.predict(x)
                m.cpu(), s.cpu()
                _sync(dev)
                if i >= warmup:
                    times.append(time.perf_counter() - t0)
        results.append({"case": f"model {w}x{h} batch {b}", "batch": b, **_stats(times, b)})
    for fh, fw in sizes:
        tile = fh > h or fw > w
        insp = Inspector(bundle, preprocessing=Preprocessing(tile=tile))
        frame = _texture_frame(rng, fh, fw)
        times = []
        n_iter = max(5, iters // 5) if tile else iters
        for i in range(warmup + n_iter):
            _sync(dev)
            t0 = time.perf_counter()
            insp.inspect(frame)
            _sync(dev)
            if i >= warmup:
                times.append(time.perf_counter() - t0)
        case = f"frame {fw}x{fh} {'tiled' if tile else 'resized'} +post"
        results.append({"case": case, "batch": 1, "tiled": tile, **_stats(times, 1)})
    return {
        "model": bundle.name,
        "config": model.config.to_dict(),
        "device": device_label(dev),
        "torch": torch.__version__,
        "host": platform.node(),
        "cpu_threads": torch.get_num_threads(),
        "aoi_version": inspection_core.__version__,
        "date": time.strftime("%Y-%m-%d %H:%M:%S%z"),
        "results": results,
    }
