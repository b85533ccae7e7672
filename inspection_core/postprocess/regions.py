"""Binary mask, morphology and connected components → Defect records."""

from __future__ import annotations

import cv2
import numpy as np

from inspection_core.types import Defect


def smooth_map(anomaly_map: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing (sigma in pixels); sigma ≤ 0 returns the map unchanged."""
    if sigma <= 0:
        return anomaly_map
    k = int(2 * round(3 * sigma) + 1)
    return cv2.GaussianBlur(anomaly_map.astype(np.float32, copy=False), (k, k), sigma)


def extract_defects(
    anomaly_map: np.ndarray,
    pixel_threshold: float,
    min_area: int = 0,
    roi_mask: np.ndarray | None = None,
    morphology_radius: int = 1,
    pixel_size_mm: float | None = None,
) -> tuple[np.ndarray, list[Defect]]:
    """Threshold a normalised map into a mask and its regions (areas ≥ min_area, in px).

    Regions are numbered from 1 by descending max score, so Defect 1 is the worst.
    """
    mask = anomaly_map >= pixel_threshold
    if roi_mask is not None:
        mask &= roi_mask
    m8 = mask.view(np.uint8)
    if morphology_radius > 0 and m8.any():
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * morphology_radius + 1,) * 2)
        m8 = cv2.morphologyEx(m8, cv2.MORPH_OPEN, k)
    if not m8.any():
        return np.zeros(anomaly_map.shape, bool), []
    n, labels, stats, cents = cv2.connectedComponentsWithStats(m8, connectivity=8)
    keep = [i for i in range(1, n) if stats[i, cv2.CC_STAT_AREA] >= max(min_area, 1)]
    if not keep:
        return np.zeros(anomaly_map.shape, bool), []
    # per-label max/mean over the bounding boxes only (fast on big frames with few regions)
    found = []
    for i in keep:
        x, y, w, h, area = (int(v) for v in stats[i])
        sub_l = labels[y : y + h, x : x + w] == i
        vals = anomaly_map[y : y + h, x : x + w][sub_l]
        found.append((float(vals.max()), float(vals.mean()), i, (x, y, x + w, y + h), area))
    found.sort(key=lambda t: -t[0])
    lut = np.zeros(n, bool)
    lut[keep] = True
    out_mask = lut[labels]
    defects = [
        Defect(
            id=k + 1,
            bbox=bbox,
            area_px=area,
            centroid=(float(cents[i][0]), float(cents[i][1])),
            max_score=mx,
            mean_score=mean,
            area_mm2=None if pixel_size_mm is None else area * pixel_size_mm**2,
        )
        for k, (mx, mean, i, bbox, area) in enumerate(found)
    ]
    return out_mask, defects
