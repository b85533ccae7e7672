"""Do two different models' maps add up? PatchCore (pretrained features) and SIDN (trained on synthetic
defects) fail differently; this fuses their normalised maps and scores on magnetic tile (issue #2's
pixel targets). Not a test and not a product feature: evidence for the next step.

Usage: python benchmarks/ensemble_experiment.py --model-dirs A B --data DIR --out FILE.json [--device cpu] [--quick]
Each model's raw map and score are normalised with its own calibration (0.5 = its threshold), maps are
brought to the first model's input size, then fused by mean, by max and by a weighted mean; metrics as
`aoi eval` computes them (pixel metrics at that size, masks resized).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
import torch.nn.functional as F
from patchcore_map_analysis import map_metrics  # benchmarks/ is on sys.path when run as a script
from provenance import record, write_json

from inspection_core.data.dataset import MVTecDataset
from inspection_core.data.imageio import to_rgb_float
from inspection_core.metrics.curves import aupro, auroc
from inspection_core.models.bundle import load_bundle
from inspection_core.runtime import resolve_device


@torch.inference_mode()
def normalised_outputs(
    bundle, samples: list, size: tuple[int, int], batch: int = 16
) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001
    """(N, H, W) normalised maps at `size` and (N,) normalised scores of one model over the samples."""
    model, norm = bundle.model, bundle.normalization
    msize = model.image_size
    maps, scores = [], []
    for i in range(0, len(samples), batch):
        imgs = [s.load() for s in samples[i : i + batch]]
        x = torch.from_numpy(np.stack([to_rgb_float(im, msize).transpose(2, 0, 1) for im in imgs]))
        m, s = model.predict(x.to(model.device))
        m = norm.map_unclipped(m.float())
        if tuple(m.shape[-2:]) != tuple(size):
            m = F.interpolate(m[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]
        maps.append(m.cpu().numpy())
        scores.append(norm.score(s.float().cpu().numpy()))
    return np.concatenate(maps), np.concatenate(scores)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model-dirs", nargs=2, required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--device", default="cpu")
    ap.add_argument(
        "--quick", action="store_true", help="mean and 0.7 / 0.3 only, no per-type figures (minutes less)"
    )
    args = ap.parse_args()
    dev = resolve_device(args.device)
    bundles = [load_bundle(d, device=dev) for d in args.model_dirs]
    samples = MVTecDataset(args.data).require_test()
    size = bundles[0].model.image_size
    labels = np.array([s.label for s in samples])
    types = np.array([s.defect_type for s in samples])
    gt = np.stack([s.load_mask(size) if s.label else np.zeros(size, bool) for s in samples])
    outs = [normalised_outputs(b, samples, size) for b in bundles]
    (ma, sa), (mb, sb) = outs
    variants = {
        bundles[0].name: (ma, sa),
        bundles[1].name: (mb, sb),
        "mean": ((ma + mb) / 2, (sa + sb) / 2),
        "max": (np.maximum(ma, mb), np.maximum(sa, sb)),
        "0.7 / 0.3": (0.7 * ma + 0.3 * mb, 0.7 * sa + 0.3 * sb),
        "0.3 / 0.7": (0.3 * ma + 0.7 * mb, 0.3 * sa + 0.7 * sb),
        # the fusion model's defaults: maps 0.5 / 0.5, scores 0.7 / 0.3
        "maps 0.5, scores 0.7": ((ma + mb) / 2, 0.7 * sa + 0.3 * sb),
        # agreement: high only where both are (uncorrelated false alarms cancel), scores as the fusion's
        "maps geometric mean, scores 0.7": (
            np.sqrt(np.clip(ma, 0, None) * np.clip(mb, 0, None)),
            0.7 * sa + 0.3 * sb,
        ),
        "maps min, scores 0.7": (np.minimum(ma, mb), 0.7 * sa + 0.3 * sb),
    }
    if args.quick:  # each metric sorts ~40 M pixels: the per-type figures and two variants cost minutes
        variants = {k: v for k, v in variants.items() if k not in ("max", "0.3 / 0.7", "0.7 / 0.3")}
    rows = []
    for name, (m, s) in variants.items():
        pix = {"pixel_auroc": auroc(gt.ravel(), m.ravel()), "aupro": aupro(gt, m)} if args.quick else None
        r = {"variant": name, "image_auroc": auroc(labels, s), **(pix or map_metrics(gt, labels, types, m))}
        rows.append(r)
        print(name, round(r["image_auroc"], 4), round(r["pixel_auroc"], 4), round(r["aupro"], 4), flush=True)
    report = {
        **record(dev),
        "models": args.model_dirs,
        "size": list(size),
        "n_images": len(samples),
        "rows": rows,
    }
    return write_json(args.out, report, indent=2)


if __name__ == "__main__":
    raise SystemExit(main())
