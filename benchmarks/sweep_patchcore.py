"""Sweep PatchCore options on a dataset: fit time, image/pixel AUROC, AUPRO, ms/image for each.

Usage: python benchmarks/sweep_patchcore.py --data DIR --out FILE.json [--device auto] [--configs JSON]
Writes one JSON with every configuration's results, the machine and the date; prints the best.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time

import torch

from inspection_core.data import MVTecDataset
from inspection_core.metrics import evaluate_dataset
from inspection_core.runtime import FitContext, resolve_device
from inspection_core.runtime.context import device_label
from inspection_core.training.fit import train_model

DEFAULT_CONFIGS = [
    {"aggregation": 5, "flip_augment": True},
    {"aggregation": 5, "intensity_norm": True},
    {"aggregation": 5, "score_topk": 10},
    {"aggregation": 5, "flip_augment": True, "intensity_norm": True, "score_topk": 10},
    {"image_size": [320, 320], "aggregation": 5, "intensity_norm": True, "coreset_size": 12000},
    {"blocks": [4, 10, 14], "aggregation": 5, "intensity_norm": True},
]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--configs", default=None, help="JSON list of option dicts")
    ap.add_argument("--holdout", type=float, default=0.1)
    args = ap.parse_args()
    dev = resolve_device(args.device)
    configs = json.loads(args.configs) if args.configs else DEFAULT_CONFIGS
    ds = MVTecDataset(args.data)
    train = [s.path for s in ds.require_train()]
    rows = []
    for cfg in configs:
        opts = {k: tuple(v) if isinstance(v, list) else v for k, v in cfg.items()}
        t0 = time.perf_counter()
        bundle = train_model("patchcore", train, FitContext(device=dev), holdout=args.holdout, options=opts)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        fit_s = time.perf_counter() - t0
        rep = evaluate_dataset(bundle, ds, FitContext(device=dev))
        row = {"options": cfg, "fit_seconds_incl_loading": round(fit_s, 2), **rep.to_dict()}
        rows.append(row)
        print(
            f"{json.dumps(cfg):<55} fit {fit_s:6.1f}s img {rep.image_auroc:.4f} pix {rep.pixel_auroc:.4f} "
            f"pro {rep.aupro:.4f} f1 {rep.f1_max:.4f} {rep.ms_per_image:.2f} ms/img",
            flush=True,
        )
        best = max(rows, key=lambda r: r["image_auroc"] + r["pixel_auroc"] + r["aupro"])
        out = {
            "command": " ".join([sys.executable.split("/")[-1], *sys.argv]),
            "device": device_label(dev),
            "host": platform.node(),
            "date": time.strftime("%Y-%m-%d %H:%M:%S%z"),
            "n_train": len(train),
            "holdout": args.holdout,
            "results": rows,
            "best": best["options"],
        }
        with open(args.out, "w") as fh:  # after every configuration: a cut-short sweep keeps its rows
            json.dump(out, fh, indent=2)
    print("best:", json.dumps(best["options"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
