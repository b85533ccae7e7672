"""Experiment: does a local-intensity feature in PatchCore's map bank find the "uneven" defects?

Usage: python benchmarks/intensity_feature_experiment.py --data DIR --out FILE.json [--weights 0,10,30]
"uneven" holds 71 % of magnetic tile's defect pixels and is a large, low-contrast brightness change that
pretrained CNN features barely see. For each weight w, the map bank gets two extra channels — the
local mean and local standard deviation of the (standardised) grey image at the feature grid, 3×3
averaged, times w — and the default model is fitted and evaluated as `aoi eval` would (20 % held out).
w = 0 is the shipped default. The model class is patched in this process only; nothing ships.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import torch
import torch.nn.functional as F
from provenance import record, write_json

from inspection_core.data import MVTecDataset
from inspection_core.metrics import evaluate_dataset
from inspection_core.models.patchcore import model as pcm
from inspection_core.runtime import FitContext, resolve_device
from inspection_core.training.fit import train_model

WEIGHT = 0.0
_init, _embed = pcm.PatchCore.__init__, pcm.PatchCore.embed


def _init_with_intensity(self: Any, config: Any = None) -> None:
    _init(self, config)
    if WEIGHT > 0:  # two more channels after everything embed() returns, both in the map bank
        start = self._dim + (len(self._map_channels) if self._own_map_aggregation else 0)
        self._map_channels = [*self._map_channels, start, start + 1]
        self.map_bank = pcm.MemoryBank(len(self._map_channels))
        self._map_index = torch.tensor(self._map_channels, dtype=torch.long)


def _embed_with_intensity(self: Any, x: torch.Tensor) -> torch.Tensor:
    out = _embed(self, x)
    if WEIGHT <= 0:
        return out
    g = (pcm.standardise(x) if self.config.intensity_norm else x).mean(1, keepdim=True)
    s = self.feature_stride
    pool = lambda t: F.avg_pool2d(F.avg_pool2d(t, s, s), 3, 1, 1, count_include_pad=False)  # noqa: E731
    mean, sq = pool(g), pool(g * g)
    extra = torch.cat([mean - 0.5, (sq - mean * mean).clamp_min(0).sqrt()], 1) * WEIGHT
    if extra.shape[-2:] != out.shape[-2:]:
        extra = F.interpolate(extra, size=out.shape[-2:], mode="bilinear", align_corners=False)
    return torch.cat([out, extra], 1)


def main() -> int:
    global WEIGHT
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--weights", default="0,10,30")
    args = ap.parse_args()
    pcm.PatchCore.__init__ = _init_with_intensity  # type: ignore[method-assign]
    pcm.PatchCore.embed = _embed_with_intensity  # type: ignore[method-assign]
    dev = resolve_device(args.device)
    ds = MVTecDataset(args.data)
    train = [s.path for s in ds.require_train()]
    rows = []
    for w in (float(v) for v in args.weights.split(",")):
        WEIGHT = w
        t0 = time.perf_counter()
        bundle = train_model("patchcore", train, FitContext(device=dev), holdout=0.2)
        fit_s = time.perf_counter() - t0
        rep = evaluate_dataset(bundle, ds, FitContext(device=dev)).to_dict()
        rows.append({"weight": w, "fit_seconds_incl_loading": round(fit_s, 1), **rep})
        print(w, {k: round(rep[k], 4) for k in ("image_auroc", "pixel_auroc", "aupro", "f1_max")}, flush=True)
        write_json(args.out, {**record(dev), "results": rows})  # after every weight
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
