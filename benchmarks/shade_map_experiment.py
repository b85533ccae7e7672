"""Can a plain brightness statistic find magnetic tile's "uneven" regions that deep features miss?

"Uneven" (71 % of the defect pixels, so it drives the pooled pixel AUROC) is a large region a little
brighter or darker than the rest; PatchCore's and SIDN's maps hardly see it (AUPRO 0.34-0.42 there).
This builds a per-position model of good brightness — each good training image in grey at the model
size, divided by its own median (exposure), blurred (σ px), log; mean and spread per pixel position
over the training images — and scores a test image by |its value − mean| / spread. The map is
calibrated on held-out good images like any model's, then fused with a saved model's normalised map
(mean and max). Metrics overall and for "uneven" alone (its images + the good ones).

Usage: python benchmarks/shade_map_experiment.py --model-dir PATCHCORE_DIR --data DIR --out FILE.json
       [--sigmas 4,8,16] [--device cpu]
Not a test and not a product feature: evidence for the next step.
"""

from __future__ import annotations

import argparse

import cv2
import numpy as np
import torch
from ensemble_experiment import normalised_outputs  # benchmarks/ is on sys.path when run as a script
from provenance import record, write_json

from inspection_core.data.dataset import MVTecDataset
from inspection_core.metrics.curves import aupro, auroc
from inspection_core.models.bundle import load_bundle
from inspection_core.postprocess.normalization import fit_normalization
from inspection_core.runtime import resolve_device


def brightness(img: np.ndarray, size: tuple[int, int], sigma: float) -> np.ndarray:
    """log(grey / its median), blurred, at `size` (h, w)."""
    g = img if img.ndim == 2 else cv2.cvtColor(img[..., :3], cv2.COLOR_RGB2GRAY)
    g = cv2.resize(g.astype(np.float32), (size[1], size[0]), interpolation=cv2.INTER_AREA) + 1.0
    g = np.log(g / np.median(g))
    return cv2.GaussianBlur(g, (0, 0), sigma)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--sigmas", default="4,8,16")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    dev = resolve_device(args.device)
    bundle = load_bundle(args.model_dir, device=dev)
    size = bundle.model.image_size
    ds = MVTecDataset(args.data)
    train, test = ds.require_train(), ds.require_test()
    n_ho = max(1, len(train) // 5)
    fit_imgs = [s.load() for s in train[:-n_ho]]
    ho_imgs = [s.load() for s in train[-n_ho:]]
    test_imgs = [s.load() for s in test]
    labels = np.array([s.label for s in test])
    types = np.array([s.defect_type for s in test])
    gt = np.stack([s.load_mask(size) if s.label else np.zeros(size, bool) for s in test])
    base_map, _ = normalised_outputs(bundle, test, size)
    uneven = (types == "uneven") | (labels == 0)

    def metrics(m: np.ndarray) -> dict:
        return {
            "pixel_auroc": auroc(gt.ravel(), m.ravel()),
            "aupro": aupro(gt, m),
            "uneven_pixel_auroc_vs_good": auroc(gt[uneven].ravel(), m[uneven].ravel()),
        }

    rows = [{"variant": bundle.name, **metrics(base_map)}]
    print(rows[-1], flush=True)
    for sigma in (float(s) for s in args.sigmas.split(",")):
        stack = np.stack([brightness(im, size, sigma) for im in fit_imgs])
        mu, sd = stack.mean(0), stack.std(0) + 1e-3

        def zmap(
            imgs: list[np.ndarray], mu: np.ndarray = mu, sd: np.ndarray = sd, s: float = sigma
        ) -> np.ndarray:
            return np.stack([np.abs(brightness(im, size, s) - mu) / sd for im in imgs])

        ho = zmap(ho_imgs)
        norm = fit_normalization(ho.reshape(len(ho), -1).max(1), ho)
        shade = norm.map_unclipped(zmap(test_imgs))
        for name, m in (
            (f"shade σ{sigma:g} alone", shade),
            (f"mean({bundle.name}, shade σ{sigma:g})", (base_map + shade) / 2),
            (f"0.7 {bundle.name} + 0.3 shade σ{sigma:g}", 0.7 * base_map + 0.3 * shade),
            (f"max({bundle.name}, shade σ{sigma:g})", np.maximum(base_map, shade)),
        ):
            rows.append({"variant": name, **metrics(m)})
            print({k: (round(v, 4) if isinstance(v, float) else v) for k, v in rows[-1].items()}, flush=True)
    report = {**record(dev), "model": args.model_dir, "size": list(size), "n_images": len(test), "rows": rows}
    return write_json(args.out, report, indent=2)


if __name__ == "__main__":
    with torch.inference_mode():
        raise SystemExit(main())
