"""Large frames: overlapping tiles vs the whole frame in one fully convolutional pass (PatchCore).

A line-set-up on the simulated web, as the training workspace does it: PatchCore (shipped defaults)
fitted on native-resolution tiles of good frames; the held-out good frames calibrate the thresholds
once per inspection mode (each mode is calibrated on its own scores); then frames with injected
defects (ground-truth masks from the simulator) are inspected both ways. Recorded per mode: time per
frame, pixel AUROC and AUPRO over all frames, frame-level AUROC, and at the calibrated thresholds the
false rejects (good frames called NG) and misses (defective frames called OK).

Usage: python benchmarks/whole_frame_experiment.py --out FILE.json [--width 1280 --height 1024]
       [--fit-frames 12 --holdout 4 --test-frames 24] [--device cpu]
Not a test: evidence for the choice of inspection mode.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np
from provenance import record, write_json

from inspection_core.camera.simulated import SimulatedWeb
from inspection_core.inspector import Inspector, Preprocessing, model_inputs
from inspection_core.metrics.curves import aupro, auroc
from inspection_core.models.bundle import ModelBundle
from inspection_core.postprocess import fit_normalization
from inspection_core.runtime import FitContext, resolve_device
from inspection_core.training.fit import train_model
from inspection_core.types import Frame


def grab(src: SimulatedWeb, n: int) -> list[Frame]:
    src.start()
    frames = [src.read(5.0) for _ in range(n)]
    src.stop()
    return frames


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=1024)
    ap.add_argument("--fit-frames", type=int, default=12)
    ap.add_argument("--holdout", type=int, default=4)
    ap.add_argument("--test-frames", type=int, default=24)
    ap.add_argument("--defect-rate", type=float, default=0.5)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    dev = resolve_device(args.device)
    kw = {"width": args.width, "height": args.height, "fps": 0}
    good_src = SimulatedWeb(**kw, defect_rate=0.0, seed=1)
    good_src.open()
    good = [f.image for f in grab(good_src, args.fit_frames + args.holdout)]
    good_src.close()
    test_src = SimulatedWeb(**kw, defect_rate=args.defect_rate, seed=1)
    test_src.open()
    # the same web texture as the fit, but further along it: no test frame shows a fitted stretch
    test = grab(test_src, args.fit_frames + args.holdout + args.test_frames)[args.fit_frames + args.holdout :]
    test_src.close()
    tiles = Preprocessing(tile=True, overlap=0.25)
    t0 = time.perf_counter()
    fitted = train_model(
        "patchcore",
        model_inputs(good[: args.fit_frames], (256, 256), tiles),
        FitContext(device=dev),
        holdout=0.0,
    )
    fit_s = time.perf_counter() - t0
    masks = np.stack([f.meta.get("defect_mask", np.zeros(f.image.shape[:2], bool)) for f in test])
    labels = masks.reshape(len(test), -1).any(1).astype(int)
    modes = {"tiles, 25 % overlap": tiles, "whole frame": Preprocessing(tile=True, whole_frame=True)}
    out: dict[str, Any] = {
        **record(dev),
        "frame": [args.height, args.width],
        "fit_tiles": int(len(model_inputs(good[:1], (256, 256), tiles)) * args.fit_frames),
        "fit_seconds": round(fit_s, 1),
        "test_frames": len(test),
        "defective_frames": int(labels.sum()),
        "modes": {},
    }
    for name, pre in modes.items():
        insp = Inspector(fitted, preprocessing=pre)
        held = insp.predict_raw(good[args.fit_frames :])
        norm = fit_normalization(np.array([r.raw_score for r in held]), np.stack([r.raw_map for r in held]))
        insp = Inspector(ModelBundle(fitted.model, norm, fitted.info), preprocessing=pre)
        insp.predict_raw([test[0].image])  # warm-up
        times, maps, scores, ng = [], [], [], []
        for f in test:
            t = time.perf_counter()
            (raw,) = insp.predict_raw([f.image])
            times.append((time.perf_counter() - t) * 1e3)
            res = insp.finish(f.frame_id, raw)
            maps.append(raw.raw_map)
            scores.append(raw.raw_score)
            ng.append(res.is_ng)
        m, ng_a = np.stack(maps), np.array(ng)
        row = {
            "median_ms_per_frame": round(float(np.median(times)), 1),
            "pixel_auroc": round(auroc(masks.ravel().astype(int), m.ravel()), 4),
            "aupro": round(aupro(masks, m), 4),
            "frame_auroc": round(auroc(labels, np.array(scores)), 4),
            "frame_auroc_map_max": round(auroc(labels, m.reshape(len(m), -1).max(1)), 4),
            "false_rejects": int((ng_a & (labels == 0)).sum()),
            "misses": int((~ng_a & (labels == 1)).sum()),
        }
        out["modes"][name] = row
        print(name, json.dumps(row), flush=True)
    return write_json(args.out, out)


if __name__ == "__main__":
    raise SystemExit(main())
