"""Does removing each image's global feature offset calm the normal parts of defective images?

pooled_auroc_diagnostic_cpu.json: magnetic tile's defect pixels separate from the pixels of good images
at AUROC ≈ 0.92, but from the normal pixels of defective images only at 0.58-0.75 — defective test
images score high everywhere, as if their whole appearance were shifted. Hypothesis: a per-image offset
in feature space. Here PatchCore's patch features (`embed`'s (N, D, h, w) output, which feeds both the
score bank and the map bank, at fit and at predict) are transformed per image before the memory banks:

  base         unchanged (the shipped default)
  center       minus the image's spatial mean per channel
  inorm        per channel (x - mean) / (spatial std + eps)
  highpass     minus a Gaussian-blurred copy per channel (σ = a quarter of the feature map's shorter side)
  center_half  minus half the spatial mean
  center_map   `center` on the map bank's channels only (the image score's bank unchanged)
  center_score `center` on the score bank's channels only (the map unchanged)

Each variant is fitted the way `aoi train` fits (default config, seed 0, 20 % of train/good held out to
calibrate) and scored the way `aoi eval` scores (image AUROC on raw scores; pixel AUROC and AUPRO on raw
maps at the model's input size). Per defect type: AUROC of its defect pixels against the pixels of good
images and against the normal pixels of that type's images (pooled_auroc_diagnostic's split), and the
median of normal pixels in normalised units (0.5 = the pixel threshold).

Usage: cd benchmarks && python feature_centering_experiment.py --data DIR --out FILE.json
       [--variants base,center,...] [--device cpu] [--limit N]
Not a test and not a product feature: evidence for the next step.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

import numpy as np
import torch
from pooled_auroc_diagnostic import separation, subsample  # benchmarks/ is on sys.path
from provenance import record, write_json

from inspection_core.data.dataset import MVTecDataset
from inspection_core.metrics.curves import aupro, auroc
from inspection_core.models.patchcore.model import MemoryBank, PatchCore, PatchCoreConfig, gaussian_blur
from inspection_core.postprocess.normalization import fit_normalization
from inspection_core.runtime import FitContext, resolve_device
from inspection_core.training.fit import load_images, predict_tensor, split_holdout

EPS = 1e-3  # inorm: floor of the spatial std (features of near-constant channels are not blown up)

Transform = Callable[[torch.Tensor], torch.Tensor]


def spatial_mean(emb: torch.Tensor) -> torch.Tensor:
    return emb.mean((2, 3), keepdim=True)


def center(emb: torch.Tensor) -> torch.Tensor:
    return emb - spatial_mean(emb)


def center_half(emb: torch.Tensor) -> torch.Tensor:
    return emb - 0.5 * spatial_mean(emb)


def inorm(emb: torch.Tensor) -> torch.Tensor:
    return (emb - spatial_mean(emb)) / (emb.std((2, 3), keepdim=True) + EPS)


def highpass(emb: torch.Tensor) -> torch.Tensor:
    n, d, h, w = emb.shape
    low = gaussian_blur(emb.reshape(n * d, 1, h, w), min(h, w) / 4).view(n, d, h, w)
    return emb - low


def border_channels(emb: torch.Tensor, weight: float, reach: int = 3) -> torch.Tensor:
    """(N, 2, h, w): each patch's distance to the nearest top/bottom and left/right border in patches,
    capped at `reach`, divided by it, times `weight`."""
    n, _, h, w = emb.shape
    ys = torch.arange(h, device=emb.device, dtype=emb.dtype)
    xs = torch.arange(w, device=emb.device, dtype=emb.dtype)
    dy = torch.minimum(ys, h - 1 - ys).clamp(max=reach) / reach
    dx = torch.minimum(xs, w - 1 - xs).clamp(max=reach) / reach
    return (torch.stack([dy[:, None].expand(h, w), dx[None, :].expand(h, w)]) * weight)[None].expand(
        n, 2, h, w
    )


class BorderAwarePatchCore(PatchCore):
    """Both memory banks get two border-distance channels, so a border patch finds its nearest neighbours
    among border patches of good images: is the defective images' excess at their borders texture that
    good images show only inside?"""

    def __init__(self, weight: float, config: PatchCoreConfig) -> None:
        super().__init__(config)
        self.weight = weight
        d0 = self._dim
        self._dim = d0 + 2  # score bank: its channels, then the two border channels
        n_total = d0 + 2 + (len(self._map_channels) if self._own_map_aggregation else 0) + 2
        chans = [i + 2 if i >= d0 else i for i in self._map_channels] + [n_total - 2, n_total - 1]
        self._map_channels = chans
        self.map_bank = MemoryBank(len(chans)) if self.map_bank is not None else None
        self._map_index = torch.tensor(chans, dtype=torch.long)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        emb = super().embed(x)
        d0 = self._dim - 2
        pos = border_channels(emb, self.weight)
        return torch.cat([emb[:, :d0], pos, emb[:, d0:], pos], 1)


# name → (transform, which channels: "all", "map" (the map bank's) or "score" (the score bank's))
VARIANTS: dict[str, tuple[Transform | None, str]] = {
    "base": (None, "all"),
    "center": (center, "all"),
    "inorm": (inorm, "all"),
    "highpass": (highpass, "all"),
    "center_half": (center_half, "all"),
    "center_map": (center, "map"),
    "center_score": (center, "score"),
}
BORDER_WEIGHTS = {"border8": 8.0, "border24": 24.0}  # BorderAwarePatchCore variants
DEFAULT_VARIANTS = "base,center,inorm,highpass,center_half"


class TransformedPatchCore(PatchCore):
    """PatchCore whose `embed` output is transformed per image: both memory banks, at fit and predict,
    see the transformed features (predict_frame's map-only path is not used here)."""

    def __init__(self, transform: Transform | None, channels: str, config: PatchCoreConfig) -> None:
        super().__init__(config)
        self.transform = transform
        self.channels = channels

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        emb = super().embed(x)
        if self.transform is None:
            return emb
        if self.channels == "all":
            return self.transform(emb)
        if self.channels == "score":
            return torch.cat([self.transform(emb[:, : self._dim]), emb[:, self._dim :]], 1)
        # the map bank's channels (appended after the score bank's with its own aggregation; else a
        # subset of them, which the score bank then sees transformed too)
        out = emb.clone()
        idx = self._map_index
        out[:, idx] = self.transform(emb.index_select(1, idx))
        return out


def run_variant(
    name: str,
    train: torch.Tensor,
    test: torch.Tensor,
    gt: np.ndarray,
    labels: np.ndarray,
    types: np.ndarray,
    dev: torch.device,
) -> dict:
    if name in BORDER_WEIGHTS:
        model: PatchCore = BorderAwarePatchCore(BORDER_WEIGHTS[name], PatchCoreConfig())
    elif name == "flip":
        model = PatchCore(PatchCoreConfig(flip_augment=True))
    else:
        transform, channels = VARIANTS[name]
        model = TransformedPatchCore(transform, channels, PatchCoreConfig())
    ctx = FitContext(device=dev, seed=0)
    torch.manual_seed(ctx.seed)  # as train_model does
    np.random.seed(ctx.seed)
    fit_idx, hold_idx = split_holdout(len(train), 0.2, ctx.seed)
    model.to(dev)
    t0 = time.perf_counter()
    model.fit(train[torch.from_numpy(fit_idx)], ctx)
    model.eval()
    fit_s = time.perf_counter() - t0
    hold_maps, hold_scores = predict_tensor(model, train[torch.from_numpy(hold_idx)])
    norm = fit_normalization(hold_scores, hold_maps)
    t0 = time.perf_counter()
    maps, scores = predict_tensor(model, test, batch_size=16)
    predict_s = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    kinds = sorted(set(types[labels == 1]))
    good = subsample(maps[labels == 0].ravel(), rng)
    per_type = {}
    for t in kinds:
        m, g = maps[types == t], gt[types == t]
        pos, normal = subsample(m[g], rng), subsample(m[~g], rng)
        per_type[t] = {
            "vs_good_images": separation(pos, good),
            "vs_own_normal_pixels": separation(pos, normal),
            "normal_median_normalised": float(np.median(norm.map_unclipped(normal))),
            "defect_median_normalised": float(np.median(norm.map_unclipped(pos))),
        }
    return {
        "variant": name,
        "image_auroc": auroc(labels, scores),
        "pixel_auroc": auroc(gt.ravel(), maps.ravel()),
        "aupro": aupro(gt, maps),
        "fit_seconds": round(fit_s, 1),
        "predict_ms_per_image": round(predict_s * 1e3 / len(test), 1),
        "good_median_normalised": float(np.median(norm.map_unclipped(good))),
        "per_type": per_type,
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--variants", default=DEFAULT_VARIANTS, help=f"comma-separated, of {list(VARIANTS)}")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--limit", type=int, default=0, help="smoke test: first N train, every 8th test image")
    args = ap.parse_args()
    names = [v for v in args.variants.split(",") if v]
    unknown = set(names) - set(VARIANTS) - set(BORDER_WEIGHTS) - {"flip"}
    if unknown:
        ap.error(f"unknown variants {sorted(unknown)}; known: {list(VARIANTS)}")
    dev = resolve_device(args.device)
    ds = MVTecDataset(args.data)
    train_s, test_s = ds.require_train(), ds.require_test()
    if args.limit:
        train_s, test_s = train_s[: args.limit], test_s[::8]
    size = PatchCoreConfig().image_size
    train = load_images([s.path for s in train_s], size)
    test = load_images([s.path for s in test_s], size)
    labels = np.array([s.label for s in test_s])
    types = np.array([s.defect_type for s in test_s])
    gt = np.stack([s.load_mask(size) if s.label else np.zeros(size, bool) for s in test_s])
    rows = []
    for name in names:
        row = run_variant(name, train, test, gt, labels, types, dev)
        rows.append(row)
        print(json.dumps(row), flush=True)
    report = {
        **record(dev),
        "config": PatchCoreConfig().to_dict(),
        "n_train": len(train_s),
        "n_test": len(test_s),
        "inorm_eps": EPS,
        "rows": rows,
    }
    return write_json(args.out, report, indent=2)


if __name__ == "__main__":
    raise SystemExit(main())
