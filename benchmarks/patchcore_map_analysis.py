"""Where PatchCore's pixel metrics are lost on magnetic tile: per defect type, per memory bank, and
for a few ways of fusing the two banks' maps. Fits the default once (map smoothing applied here).

Usage: python benchmarks/patchcore_map_analysis.py --data .data/magnetic_tile --out FILE.json [--device cpu]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from provenance import record, write_json

from inspection_core.data.dataset import MVTecDataset
from inspection_core.data.imageio import imread, to_rgb_float
from inspection_core.metrics.curves import aupro, auroc
from inspection_core.models.patchcore.model import gaussian_blur
from inspection_core.models.registry import create_model
from inspection_core.runtime import resolve_device
from inspection_core.runtime.context import FitContext


def load_images(samples: list, size: tuple[int, int]) -> torch.Tensor:
    """(N, 3, H, W) float images of dataset samples at the model size."""
    return torch.from_numpy(
        np.stack([to_rgb_float(imread(s.path), size).transpose(2, 0, 1) for s in samples])
    )


def map_metrics(gt: np.ndarray, labels: np.ndarray, types: np.ndarray, m: np.ndarray) -> dict:
    """Pixel AUROC and AUPRO of maps m against masks gt, overall and per defect type (that type's
    images plus the good ones for pixel AUROC; that type's images for AUPRO)."""
    out = {"pixel_auroc": auroc(gt.ravel(), m.ravel()), "aupro": aupro(gt, m), "per_type": {}}
    for t in sorted(set(types[labels == 1])):
        sel = (types == t) | (labels == 0)
        out["per_type"][t] = {
            "pixel_auroc_vs_good": auroc(gt[sel].ravel(), m[sel].ravel()),
            "aupro": aupro(gt[types == t], m[types == t]),
        }
    return out


def write_report(out: str, dev: torch.device, model: torch.nn.Module, fit_s: float, **extra: object) -> int:
    """The JSON every map experiment writes: provenance, the model config, fit time, its results."""
    report = {**record(dev), "config": model.config.to_dict(), "fit_seconds": round(fit_s, 1), **extra}
    return write_json(out, report, indent=2)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    dev = resolve_device(args.device)
    ds = MVTecDataset(args.data)
    test = ds.require_test()
    model = create_model("patchcore", smoothing_sigma=0.0, wide_sigma=0.0)
    size = model.image_size

    def load(samples: list) -> torch.Tensor:
        return load_images(samples, size)

    t0 = time.perf_counter()
    model.fit(load(ds.require_train()), FitContext(device=dev))
    model.eval()
    fit_s = time.perf_counter() - t0
    score_maps, map_maps, gts = [], [], []
    with torch.inference_mode():
        for i in range(0, len(test), 16):
            chunk = test[i : i + 16]
            emb = model.embed(load(chunk).to(dev))
            n, d, fh, fw = emb.shape
            q = emb.permute(0, 2, 3, 1).reshape(-1, d)
            score_maps.append(model.bank.distance(q[:, : model._dim]).view(n, fh, fw).cpu().numpy())
            map_maps.append(
                model.map_bank.distance(q.index_select(1, model._map_index)).view(n, fh, fw).cpu().numpy()
            )
            gts += [s.load_mask(size) if s.label else np.zeros(size, bool) for s in chunk]
    sc, mp, gt = np.concatenate(score_maps), np.concatenate(map_maps), np.stack(gts)
    labels = np.array([s.label for s in test])
    types = np.array([s.defect_type for s in test])

    def up(a: np.ndarray, sigma: float) -> np.ndarray:
        t = F.interpolate(torch.from_numpy(a)[:, None], size=size, mode="bilinear", align_corners=False)
        return gaussian_blur(t, sigma)[:, 0].numpy()

    def up_wide(a: np.ndarray, sigma: float) -> np.ndarray:
        """Like PatchCore's --wide-sigma: blur at feature resolution, then upsample."""
        t = gaussian_blur(torch.from_numpy(a)[:, None], sigma * a.shape[1] / size[0])
        return F.interpolate(t, size=size, mode="bilinear", align_corners=False)[:, 0].numpy()

    def metrics(m: np.ndarray) -> dict:
        return map_metrics(gt, labels, types, m)

    pos = gt.reshape(len(gt), -1).sum(1)
    share = {t: float(pos[types == t].sum() / pos.sum()) for t in sorted(set(types[labels == 1]))}
    g_s, g_m = float(np.median(sc[labels == 0])), float(np.median(mp[labels == 0]))
    variants = {
        "map bank (blocks 4+10, agg 3), sigma 4": up(mp, 4),
        "map bank, sigma 8": up(mp, 8),
        "max(map bank sigma 8, map bank sigma 32 at feature resolution) (the default map)": np.maximum(
            up(mp, 8), up_wide(mp, 32)
        ),
        "score bank (blocks 4+10+14, agg 7), sigma 8": up(sc, 8),
        "0.7 map + 0.3 score (each / its good median), sigma 8": up(0.7 * mp / g_m + 0.3 * sc / g_s, 8),
        "geometric mean of both (each / its good median), sigma 8": up(np.sqrt(mp / g_m * sc / g_s), 8),
        "map bank minus each image's 25th percentile, sigma 8": up(
            mp - np.percentile(mp.reshape(len(mp), -1), 25, axis=1)[:, None, None], 8
        ),
    }
    results = {}
    for name, m in variants.items():
        results[name] = metrics(m)
        print(
            f"{name:60s} pixel {results[name]['pixel_auroc']:.4f} AUPRO {results[name]['aupro']:.4f}",
            flush=True,
        )
    return write_report(args.out, dev, model, fit_s, share_of_defect_pixels=share, variants=results)


if __name__ == "__main__":
    sys.exit(main())
