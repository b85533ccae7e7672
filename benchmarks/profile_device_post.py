"""Where a 5-MP frame's post-processing time goes, on the map's device vs on the host.

Usage: python benchmarks/profile_device_post.py --model-dir DIR --out FILE.json [--device cuda]
       [--frames-from DATASET] [--frame 2448x2048] [--iters 20]
For a synthetic texture frame (many regions) and, with --frames-from, a mosaic of good images (few),
the raw map is made once on the device; then the device path (DevicePostprocessor) is timed whole and
in its parts (map → mask on the device, mask and map down, host labelling, labels up + statistics),
beside the host path (postprocess_map on the map copied down) and the whole `inspect` either way.
Not a test: an investigation tool whose JSON is kept as evidence.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
import torch
from profile_gpu import timed as gpu_timed  # benchmarks/ is on sys.path when run as a script
from provenance import record, write_json

from inspection_core.bench import _texture_frame, mosaic_frame
from inspection_core.data.dataset import MVTecDataset
from inspection_core.inspector import Inspector, Preprocessing
from inspection_core.models.bundle import load_bundle
from inspection_core.postprocess.device import DevicePostprocessor, open_mask
from inspection_core.postprocess.settings import postprocess_map
from inspection_core.runtime import resolve_device


def timed(fn: Callable[[], Any], dev: torch.device, iters: int) -> float:
    """Median ms of fn after 3 warm-up calls, synchronised with the device on both sides."""
    return round(gpu_timed(fn, dev, iters, warmup=3)["median_ms"], 3)


def profile_frame(
    kind: str, frame: np.ndarray, dev_insp: Inspector, host_insp: Inspector, iters: int
) -> dict[str, Any]:
    """One frame: its raw map made once on the device, then each path and part timed."""
    dev, norm, settings = dev_insp.device, dev_insp.bundle.normalization, dev_insp.settings
    raw_t, score, _ = dev_insp._map_on_device(frame)
    raw_host = raw_t.cpu().numpy()
    post = DevicePostprocessor()
    out = post.run(raw_t, score, norm, settings)
    amap = norm.map_unclipped(raw_t.float()).clamp_(0.0, 1.0)
    mask = open_mask(amap >= settings.pixel_threshold, settings.morphology_radius)
    m8 = mask.view(torch.uint8).cpu().numpy()
    labels = np.empty(m8.shape, np.int32)
    kept: list = []
    r: dict[str, Any] = {
        "frame": kind,
        "defects": len(out.defects),
        "mask_fraction": round(float(out.mask.mean()), 5),
        "device total": timed(lambda: post.run(raw_t, score, norm, settings), dev, iters),
        # every result kept (past HostMemory.limit arrays, results are copied out of a staging buffer)
        "device total, results kept": timed(
            lambda: kept.append(post.run(raw_t, score, norm, settings)), dev, iters
        ),
        "device: map to opened mask": timed(
            lambda: open_mask(
                norm.map_unclipped(raw_t.float()).clamp_(0.0, 1.0) >= settings.pixel_threshold,
                settings.morphology_radius,
            ),
            dev,
            iters,
        ),
        "device: map down (pinned)": timed(lambda: post.memory.down(amap).array(), dev, iters),
        "device: mask down (pinned)": timed(
            lambda: post.memory.down(mask.view(torch.uint8)).array(), dev, iters
        ),
        "host: connected components": timed(
            lambda: cv2.connectedComponents(m8, labels=labels, connectivity=8, ltype=cv2.CV_32S), dev, iters
        ),
        "device: labels up + statistics": timed(lambda: post._regions(amap, m8, dev), dev, iters),
        "host total (map copied down first)": timed(
            lambda: postprocess_map(raw_t.cpu().numpy(), score, norm, settings), dev, iters
        ),
        "host total (map on the host)": timed(
            lambda: postprocess_map(raw_host, score, norm, settings), dev, iters
        ),
        "inspect, device post": timed(lambda: dev_insp.inspect(frame), dev, iters),
        "inspect, host post": timed(lambda: host_insp.inspect(frame), dev, iters),
        "cv2 threads": cv2.getNumThreads(),
    }
    ref = postprocess_map(raw_host, score, norm, settings)
    r["same defects as the host"] = sorted(d.bbox for d in ref.defects) == sorted(d.bbox for d in out.defects)
    r["same mask as the host"] = bool((ref.mask == out.mask).all())
    print(json.dumps(r), flush=True)
    return r


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--frames-from", default=None)
    ap.add_argument("--frame", default="2448x2048")
    ap.add_argument("--iters", type=int, default=20)
    args = ap.parse_args()
    dev = resolve_device(args.device)
    bundle = load_bundle(args.model_dir, device=dev)
    fw, fh = (int(v) for v in args.frame.split("x"))
    rng = np.random.default_rng(0)
    frames = {"synthetic": _texture_frame(rng, fh, fw)}
    if args.frames_from:
        good = [s.load() for s in MVTecDataset(args.frames_from).train[:64]]
        frames["good mosaic"] = mosaic_frame(good, fh, fw, rng)
    dev_insp = Inspector(bundle, preprocessing=Preprocessing(tile=True), post_on_device=True)
    host_insp = Inspector(bundle, preprocessing=Preprocessing(tile=True), post_on_device=False)
    rows = [profile_frame(kind, frame, dev_insp, host_insp, args.iters) for kind, frame in frames.items()]
    return write_json(args.out, {**record(dev), "frame": [fh, fw], "rows": rows}, indent=2)


if __name__ == "__main__":
    with torch.inference_mode():  # as the live loop runs (its reused buffers are inference tensors)
        raise SystemExit(main())
