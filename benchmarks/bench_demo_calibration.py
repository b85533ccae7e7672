"""How the embedded demo model behaves on the simulated web: false rejects and misses over N frames.

Usage: python benchmarks/bench_demo_calibration.py [--frames 80] [--holdout 4] --out FILE.json
Fits the demo model exactly as the app does at first start (good frames of the simulated web, the
last `holdout` frames calibrate the thresholds), then inspects `frames` frames with injected defects
and compares each verdict with the frame's ground-truth defect mask.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time

import torch

from app.demo import DEMO_FRAMES, DEMO_HOLDOUT, DEMO_PREPROCESSING, fit_on_frames, grab_frames
from inspection_core.camera import open_source
from inspection_core.inspector import Inspector


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=80)
    ap.add_argument("--fit-frames", type=int, default=DEMO_FRAMES)
    ap.add_argument("--holdout", type=int, default=DEMO_HOLDOUT)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    src = open_source("simulated", defect_rate=0, fps=0)
    src.start()
    frames = grab_frames(src, args.fit_frames)
    src.close()
    bundle = fit_on_frames(frames, holdout=args.holdout)
    insp = Inspector(bundle, preprocessing=DEMO_PREPROCESSING)
    src = open_source("simulated", fps=0)
    src.start()
    counts = {"good": 0, "defective": 0, "false_rejects": 0, "misses": 0}
    for _ in range(args.frames):
        f = src.read(2.0)
        res = insp.inspect(f)
        m = f.meta.get("defect_mask")
        has = bool(m is not None and m.any())
        counts["defective" if has else "good"] += 1
        counts["false_rejects"] += (not has) and res.is_ng
        counts["misses"] += has and not res.is_ng
    src.close()
    out = {
        "command": " ".join(["python", *sys.argv]),
        "date": time.strftime("%Y-%m-%d %H:%M:%S%z"),
        "machine": f"{platform.node()} {platform.machine()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads",
        "fit_frames": args.fit_frames,
        "holdout_frames": args.holdout,
        "fit_seconds": bundle.info.get("fit_seconds"),
        **counts,
        "false_reject_rate": counts["false_rejects"] / max(1, counts["good"]),
    }
    with open(args.out, "w") as fh:
        json.dump(out, fh, indent=2)
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
