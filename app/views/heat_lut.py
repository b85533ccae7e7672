"""The heatmap's colour table: transparent below the pixel threshold, a warm colour ramp above it."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg


def heat_lut(pixel_threshold: float, colormap: str = "turbo") -> np.ndarray:
    """(256, 4) uint8 RGBA for a heatmap quantised as value × 255 (0.5 = the calibrated threshold).

    Entries below the threshold are fully transparent, so good texture is never tinted; above it the
    colour runs over the upper half of the map (yellow → red) so every visible pixel reads as "bad".
    """
    cmap = pg.colormap.get(colormap)
    idx = np.arange(256, dtype=np.float64) / 255.0
    t0 = float(np.clip(pixel_threshold, 0.0, 1.0))
    t = np.clip((idx - t0) / max(1.0 - t0, 1e-6), 0.0, 1.0)
    lut = np.asarray(cmap.map(0.55 + 0.45 * t, mode="byte"), dtype=np.uint8)
    if lut.shape[1] == 3:
        lut = np.concatenate([lut, np.full((256, 1), 255, np.uint8)], axis=1)
    lut[:, 3] = np.where(idx >= t0, 255, 0)
    return np.ascontiguousarray(lut)
