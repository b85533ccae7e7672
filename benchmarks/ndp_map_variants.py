"""Experiment: how NDP-Net's anomaly map is composed from its three segmentation heads.

Usage: python benchmarks/ndp_map_variants.py --model-dir DIR --data .data/magnetic_tile --out FILE.json
Why: the paper fixes map = 0.2·σ(AM1) + 0.2·up σ(AM2) + 0.6·up σ(AM3), then 5×5 mean and median
filtering. On magnetic tile most defect pixels lie in large low-contrast "uneven" regions, which the
fine head AM1 may miss and the coarse AM3 may catch; the pixel AUROC is pooled over all pixels, so the
weights and the smoothing may matter. A trained model is read, the three heads' probabilities (and the
input-vs-reconstruction error) of every test image are kept once, and each composition is scored the
way `aoi eval` scores (maps at the model size, masks resized). No statistic comes from test data:
the reconstruction error and RBAM's repair residual are scaled by their means on the held-out
training images (the product variant by 99th percentiles there). Image AUROC is the map's maximum.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from patchcore_map_analysis import load_images, map_metrics, write_report

from inspection_core.data.dataset import MVTecDataset
from inspection_core.metrics.curves import auroc
from inspection_core.models.bundle import load_bundle
from inspection_core.models.ndpnet.layers import mean_filter, median_filter
from inspection_core.models.ndpnet.model import RBAM_LAYERS
from inspection_core.runtime import resolve_device


@torch.inference_mode()
def heads(model: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(N, 3, H, W) head probabilities at input size, (N, 1, H, W) |input − reconstruction| and
    (N, 3, H, W) RBAM's repair residual at layers 3…5 (how far the input's deep features are from
    their rebuild out of the reference's patches), each layer upsampled to input size."""
    feats = model.encoder(x)
    recon, repaired = model.reconstruct(feats)
    logits = model.segment(feats, recon)
    size = x.shape[-2:]
    residual = torch.cat(
        [
            F.interpolate(
                (feats[l - 1].float() - r.float()).pow(2).mean(1, keepdim=True),
                size=size,
                mode="bilinear",
                align_corners=False,
            )
            for l, r in zip(RBAM_LAYERS, repaired, strict=True)
        ],
        1,
    )
    probs = [
        F.interpolate(torch.sigmoid(lg.float()), size=size, mode="bilinear", align_corners=False)
        if lg.shape[-2:] != size
        else torch.sigmoid(lg.float())
        for lg in logits
    ]
    err = (x - recon.float()).abs().mean(1, keepdim=True)
    return torch.cat(probs, 1), err, residual


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--dump", help="also save the heads, errors and residuals of the test images (.npz)")
    args = ap.parse_args()
    dev = resolve_device(args.device)
    bundle = load_bundle(args.model_dir, dev)
    model = bundle.model
    size = model.image_size
    ds = MVTecDataset(args.data)
    test = ds.require_test()
    n_hold = max(1, int(round(len(ds.train) * 0.2)))
    hold = ds.train[-n_hold:]
    t0 = time.perf_counter()

    def run(samples: list) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        ps, es, rs = [], [], []
        for i in range(0, len(samples), 16):
            p, e, r = heads(model, load_images(samples[i : i + 16], size).to(dev))
            ps.append(p.cpu())
            es.append(e.cpu())
            rs.append(r.cpu())
        return torch.cat(ps), torch.cat(es), torch.cat(rs)

    probs_hold, err_hold, res_hold = run(hold)
    probs, err, res = run(test)
    err = err / err_hold.mean()
    scale = res_hold.mean((0, 2, 3), keepdim=True)  # each layer's mean on held-out good images → 1
    res, res_hold = res / scale, res_hold / scale
    res_all = res.mean(1, keepdim=True)
    print(f"forward passes {time.perf_counter() - t0:.0f}s", file=sys.stderr)
    labels = np.array([s.label for s in test])
    types = np.array([s.defect_type for s in test])
    gt = np.stack([s.load_mask(size) if s.label else np.zeros(size, bool) for s in test])
    if args.dump:
        np.savez_compressed(
            args.dump,
            probs=probs.numpy(),
            err=err.numpy(),
            res=res.numpy(),
            gt=gt,
            labels=labels,
            types=types,
            probs_hold=probs_hold.numpy(),
            res_hold=res_hold.numpy(),
        )
    share = {t: float(gt[types == t].sum() / gt.sum()) for t in sorted(set(types[labels == 1]))}

    def finish(m: torch.Tensor, k: int = 5) -> np.ndarray:
        return median_filter(mean_filter(m, k), k)[:, 0].numpy()

    p1, p2, p3 = probs[:, :1], probs[:, 1:2], probs[:, 2:3]
    variants = {
        "paper 0.2/0.2/0.6, filters 5": finish(0.2 * p1 + 0.2 * p2 + 0.6 * p3),
        "no filters": (0.2 * p1 + 0.2 * p2 + 0.6 * p3)[:, 0].numpy(),
        "AM1 only": finish(p1),
        "AM2 only": finish(p2),
        "AM3 only": finish(p3),
        "uniform 1/3": finish((p1 + p2 + p3) / 3),
        "0.1/0.3/0.6": finish(0.1 * p1 + 0.3 * p2 + 0.6 * p3),
        "max of heads": finish(probs.amax(1, keepdim=True)),
        "filters 9": finish(0.2 * p1 + 0.2 * p2 + 0.6 * p3, 9),
        "filters 15": finish(0.2 * p1 + 0.2 * p2 + 0.6 * p3, 15),
        "recon error only": finish(err),
        "paper + 0.05·recon error": finish(0.2 * p1 + 0.2 * p2 + 0.6 * p3 + 0.05 * err),
        "paper + 0.2·recon error": finish(0.2 * p1 + 0.2 * p2 + 0.6 * p3 + 0.2 * err),
        "repair residual l3": finish(res[:, :1]),
        "repair residual l4": finish(res[:, 1:2]),
        "repair residual l5": finish(res[:, 2:3]),
        "repair residual l3-5": finish(res_all),
        **{
            f"paper + {a}·repair residual": finish(0.2 * p1 + 0.2 * p2 + 0.6 * p3 + a * res_all)
            for a in (0.02, 0.05, 0.1, 0.2)
        },
    }
    # the paper's map times the residual, each divided by its 99th percentile on held-out good images
    hp = probs_hold
    paper_hold = torch.from_numpy(finish(0.2 * hp[:, :1] + 0.2 * hp[:, 1:2] + 0.6 * hp[:, 2:3]))
    res_hold_all = torch.from_numpy(finish(res_hold.mean(1, True)))
    q99 = lambda t: float(torch.quantile(t.flatten()[::7], 0.99))  # noqa: E731
    variants["paper × repair residual (q99-scaled)"] = (
        variants["paper 0.2/0.2/0.6, filters 5"]
        / q99(paper_hold)
        * variants["repair residual l3-5"]
        / q99(res_hold_all)
    )
    results = {}
    for name, m in variants.items():
        results[name] = map_metrics(gt, labels, types, m)
        results[name]["image_auroc_max_of_map"] = auroc(labels, m.reshape(len(m), -1).max(1))
        r = results[name]
        print(
            f"{name:36s} pixel AUROC {r['pixel_auroc']:.4f}  AUPRO {r['aupro']:.4f}  "
            f"image AUROC {r['image_auroc_max_of_map']:.4f}"
        )
    return write_report(
        args.out,
        dev,
        model,
        float(bundle.info.get("fit_seconds", 0.0)),
        model_dir=args.model_dir,
        share_of_defect_pixels=share,
        variants=results,
    )


if __name__ == "__main__":
    sys.exit(main())
