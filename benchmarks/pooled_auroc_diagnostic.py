"""Where the pooled pixel AUROC is lost: each defect type's defect pixels against each source of normal
pixels (good images, and the normal pixels of each defect type's images), for saved models.

Pooled pixel AUROC ranks every defect pixel against every normal pixel of the test set, including the
normal parts of defective images. This splits it: a low figure against "good images" means the model
misses the defect; a low figure only against the normal pixels of defective images means those images
score high everywhere. Optional --smoothing/--wide override a PatchCore's map smoothing (no refit: the
map is smoothed at predict time). Maps in each model's normalised units (0.5 = its pixel threshold).

Usage: python benchmarks/pooled_auroc_diagnostic.py --model-dir DIR --data DIR --out FILE.json
       [--variants "8,32;8,0;4,0"] [--device cpu]
Not a test: an investigation tool whose JSON is kept as evidence.
"""

from __future__ import annotations

import argparse
import dataclasses

import cv2
import numpy as np
import torch
from ensemble_experiment import normalised_outputs  # benchmarks/ is on sys.path when run as a script
from provenance import record, write_json

from inspection_core.data.dataset import MVTecDataset
from inspection_core.metrics.curves import auroc
from inspection_core.models.bundle import load_bundle
from inspection_core.runtime import resolve_device


def subsample(x: np.ndarray, rng: np.random.Generator, n: int = 400_000) -> np.ndarray:
    """At most n values of x, drawn with replacement (AUROC of millions of pixels costs seconds each)."""
    return x if x.size <= n else x[rng.integers(0, x.size, n)]


def separation(pos: np.ndarray, neg: np.ndarray) -> float:
    """AUROC of defect pixel values `pos` against normal pixel values `neg`."""
    return auroc(np.r_[np.ones(pos.size), np.zeros(neg.size)], np.r_[pos, neg])


BANDS = (0, 8, 24, 64, 10_000)  # px at map size: how far a defective image's normal pixel is from its defect


def distance_bands(maps: np.ndarray, gt: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> dict:
    """Normal pixels of defective images split by their distance to the image's nearest defect pixel:
    a model whose high normal pixels sit next to defects spreads them (receptive field, smoothing);
    one whose far pixels are high reacts to the whole image. Per band: share of those pixels, median
    and p95 value, AUROC of all defect pixels against them; and the pooled AUROC with the normal
    pixels of defective images nearer than 8 / 24 / 64 px to a defect left out."""
    bad = labels == 1
    dist = np.stack(
        [cv2.distanceTransform((~g).astype(np.uint8), cv2.DIST_L2, 5) for g in gt[bad]]
    )  # 0 on defect pixels
    normal = ~gt[bad]
    vals, d = maps[bad][normal], dist[normal]
    pos = subsample(maps[gt], rng)
    out: dict = {}
    for lo, hi in zip(BANDS[:-1], BANDS[1:], strict=True):
        sel = (d > lo) & (d <= hi) if lo else (d <= hi)
        band = vals[sel]
        if band.size == 0:
            continue
        out[f"{lo}-{hi} px"] = {
            "share": round(float(sel.mean()), 4),
            "median_p95": [float(np.median(band)), float(np.quantile(band, 0.95))],
            "defect_vs_band_auroc": separation(pos, subsample(band, rng)),
        }
    keep_all = np.ones(maps.shape, bool)
    for lo in BANDS[1:-1]:  # pooled AUROC leaving out the normal pixels of defective images nearer than lo
        keep = keep_all.copy()
        keep[bad] = gt[bad] | (dist > lo)
        out[f"pooled without normal pixels within {lo} px"] = auroc(gt[keep], maps[keep])
    return out


def border_bands(
    maps: np.ndarray, gt: np.ndarray, labels: np.ndarray, widths: tuple[int, ...] = (8, 16, 32)
) -> dict:
    """The image border: median normal-pixel value within each width of the border, on good images and
    on defective ones, and the pooled AUROC with that band left out of every image (crops of parts show
    edges and chamfers there that the good training images may not)."""
    out: dict = {}
    h, w = maps.shape[-2:]
    for b in widths:
        inner = np.zeros((h, w), bool)
        inner[b : h - b, b : w - b] = True
        band = ~inner
        bad = labels == 1
        out[f"{b} px"] = {
            "good_images_median": float(np.median(maps[~bad][:, band])),
            "defective_images_normal_median": float(np.median(maps[bad][:, band][~gt[bad][:, band]])),
            "defect_pixel_share_in_band": float(gt[:, band].sum() / max(1, gt.sum())),
            "pooled_without_band": auroc(gt[:, inner].ravel(), maps[:, inner].ravel()),
        }
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--variants", default="", help="PatchCore 'smoothing,wide' pairs, ';'-separated")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    dev = resolve_device(args.device)
    bundle = load_bundle(args.model_dir, device=dev)
    size = bundle.model.image_size
    test = MVTecDataset(args.data).require_test()
    labels = np.array([s.label for s in test])
    types = np.array([s.defect_type for s in test])
    gt = np.stack([s.load_mask(size) if s.label else np.zeros(size, bool) for s in test])
    kinds = sorted(set(types[labels == 1]))
    rng = np.random.default_rng(0)
    variants = [None] + [tuple(float(v) for v in p.split(",")) for p in args.variants.split(";") if p]
    rows = []
    for var in variants:
        if var is not None:  # the map's smoothing is applied at predict time: no refit needed
            cfg = bundle.model.config
            bundle.model.config = dataclasses.replace(cfg, smoothing_sigma=var[0], wide_sigma=var[1])
        maps, _ = normalised_outputs(bundle, test, size)
        pos = {t: subsample(maps[types == t][gt[types == t]], rng) for t in kinds}
        neg = {"good images": subsample(maps[labels == 0].ravel(), rng)}
        neg.update(
            {f"{t} images, normal pixels": subsample(maps[types == t][~gt[types == t]], rng) for t in kinds}
        )
        row = {
            "variant": "as saved" if var is None else f"smoothing {var[0]:g}, wide {var[1]:g}",
            "pooled_pixel_auroc": auroc(gt.ravel(), maps.ravel()),
            "defect_vs_normal_auroc": {
                t: {k: separation(p, n) for k, n in neg.items()} for t, p in pos.items()
            },
            "normal_median_p95": {
                k: [float(np.median(n)), float(np.quantile(n, 0.95))] for k, n in neg.items()
            },
            "defect_median": {t: float(np.median(p)) for t, p in pos.items()},
            "by_distance_to_defect": distance_bands(maps, gt, labels, rng),
            "image_border": border_bands(maps, gt, labels),
        }
        rows.append(row)
        print(
            row["variant"],
            round(row["pooled_pixel_auroc"], 4),
            row["defect_vs_normal_auroc"]["uneven"],
            flush=True,
        )
    report = {**record(dev), "model": args.model_dir, "size": list(size), "rows": rows}
    return write_json(args.out, report, indent=2)


if __name__ == "__main__":
    with torch.inference_mode():
        raise SystemExit(main())
