"""Normalisation that makes thresholds mean the same for every model.

normalised = 0.5 + 0.5 * (raw - threshold) / (threshold - reference), so the typical good value
(reference = median of held-out good data) maps to 0, the threshold to 0.5, and a value as far above
the threshold as good data is below it to 1. Computed at fit time on held-out good images only and
saved with the model, like anomalib's post-processor buffers.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

import numpy as np

ArrayT = TypeVar("ArrayT")  # a numpy array or a torch tensor: both support the arithmetic used


@dataclass(frozen=True)
class Normalization:
    image_threshold: float
    image_reference: float
    pixel_threshold: float
    pixel_reference: float
    n_images: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def is_finite(self) -> bool:
        """All four statistics are finite numbers (a NaN threshold would pass every part)."""
        return all(
            math.isfinite(v)
            for v in (self.image_threshold, self.image_reference, self.pixel_threshold, self.pixel_reference)
        )

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Normalization:
        """From a model file: every statistic must be a finite number, else ValueError (fail closed)."""
        if not isinstance(d, dict):
            raise ValueError(f"normalization must be an object, got {type(d).__name__}")
        kw: dict[str, Any] = {}
        for k in ("image_threshold", "image_reference", "pixel_threshold", "pixel_reference"):
            if k not in d:
                raise ValueError(f"normalization has no {k}")
            v = d[k]
            if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
                raise ValueError(f"normalization.{k} must be a finite number, got {v!r}")
            kw[k] = float(v)
        n = d.get("n_images", 0)
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
            raise ValueError(f"normalization.n_images must be a count, got {n!r}")
        return cls(**kw, n_images=int(n))

    def score(self, raw: np.ndarray | float) -> np.ndarray:
        """Normalised image score(s), floored at 0 (not capped, so strong defects stay ordered)."""
        return np.maximum(self.score_unfloored(np.asarray(raw, dtype=np.float32)), 0.0)

    def score_unfloored(self, raw: ArrayT) -> ArrayT:
        """score() before its floor at 0, for numpy arrays and torch tensors alike (the fusion model
        normalises its members' scores on their device)."""
        t, ref = self.image_threshold, self.image_reference
        return 0.5 + 0.5 * (raw - t) / max(t - ref, 1e-12)

    def map(self, raw_map: np.ndarray) -> np.ndarray:
        """Normalised anomaly map in [0, 1] (float32): what the heatmap and the pixel threshold see."""
        out = self.map_unclipped(np.asarray(raw_map, dtype=np.float32))
        return np.clip(out, 0.0, 1.0, out=out).astype(np.float32, copy=False)

    def map_unclipped(self, raw_map: ArrayT) -> ArrayT:
        """map() before its clip to [0, 1], for numpy arrays and torch tensors alike (the live loop
        normalises large maps on the GPU where they were made, DevicePostprocessor)."""
        t, ref = self.pixel_threshold, self.pixel_reference
        return 0.5 + 0.5 * (raw_map - t) / max(t - ref, 1e-12)

    def raw_score(self, normalised: float) -> float:
        """Inverse of score(): the raw value a normalised image threshold corresponds to."""
        return float(
            self.image_threshold + (normalised - 0.5) * 2 * (self.image_threshold - self.image_reference)
        )

    @classmethod
    def identity(cls) -> Normalization:
        """No calibration: raw 0.5 is the threshold, 0 the reference (for tests and untrained tools)."""
        return cls(0.5, 0.0, 0.5, 0.0, 0)


def fit_normalization(
    good_scores: np.ndarray, good_maps: np.ndarray, margin: float = 0.1, pixel_quantile: float = 0.9999
) -> Normalization:
    """Thresholds from held-out good images only (no defects needed).

    image threshold: the highest good score plus `margin` × the good scores' spread (max - median),
    so no held-out good part is rejected; pixel threshold: a high quantile of all good pixels plus
    the same margin, so good parts show (almost) no defect regions.
    """
    s = np.asarray(good_scores, dtype=np.float64).ravel()
    if s.size == 0:
        raise ValueError("normalisation needs at least one held-out good image")
    m = np.asarray(good_maps, dtype=np.float32)
    s_med, s_max = float(np.median(s)), float(s.max())
    spread = max(s_max - s_med, 1e-6 * max(abs(s_max), 1.0))
    t_img = s_max + margin * spread
    flat = m.ravel()
    if flat.size > 4_000_000:  # a subsample is plenty for quantiles and keeps this fast
        flat = flat[np.random.default_rng(0).integers(0, flat.size, 4_000_000)]
    p_med = float(np.median(flat))
    p_hi = float(np.quantile(flat, pixel_quantile))
    p_spread = max(p_hi - p_med, 1e-6 * max(abs(p_hi), 1.0))
    t_pix = p_hi + margin * p_spread
    return Normalization(t_img, min(s_med, t_img - spread), t_pix, p_med, int(s.size))
