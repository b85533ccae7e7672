"""Region extraction on a 2448x2048 map: the sparse path (label the set pixels) vs the dense path (one
full-frame labelling with statistics), for masks that cover none, part or all of the frame.

Usage: python benchmarks/bench_regions.py --out FILE.json
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time

import cv2
import numpy as np

from inspection_core.postprocess import regions


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--iters", type=int, default=10)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    base = cv2.GaussianBlur(rng.random((2048, 2448), dtype=np.float32), (0, 0), 6)
    base = (base - base.min()) / (base.max() - base.min())
    maps = {"set everywhere": base * 0.6 + 0.45, "about half set": base, "sparse": base - 0.3}
    default = regions.DENSE_FRACTION
    rows = []
    for name, amap in maps.items():
        for path, frac in (("sparse path", 2.0), ("dense path", 0.0), ("automatic", default)):
            regions.DENSE_FRACTION = frac
            ts = []
            for _ in range(args.iters + 1):
                t0 = time.perf_counter()
                mask, defects = regions.extract_defects(amap, 0.5, 0)
                ts.append((time.perf_counter() - t0) * 1e3)
            rows.append(
                {
                    "map": name,
                    "path": path,
                    "mask_fraction": round(float(mask.mean()), 4),
                    "regions": len(defects),
                    "median_ms": round(float(np.median(ts[1:])), 2),
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    regions.DENSE_FRACTION = default
    out = {
        "command": " ".join(["python", *sys.argv]),
        "date": time.strftime("%Y-%m-%d %H:%M:%S%z"),
        "machine": f"{platform.node()} {platform.machine()}, opencv {cv2.__version__}, {cv2.getNumThreads()} threads",
        "dense_fraction": default,
        "results": rows,
    }
    with open(args.out, "w") as fh:
        json.dump(out, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
