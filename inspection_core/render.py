"""Overlay images without Qt (for `aoi predict`, snapshots and NG records): heatmap + outlines + boxes."""

from __future__ import annotations

import cv2
import numpy as np

from inspection_core.types import InspectionResult, Verdict


def to_rgb8(image: np.ndarray) -> np.ndarray:
    """Any mono/RGB/RGBA 8/16-bit image → HxWx3 uint8 RGB for display and files."""
    img = image
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    elif img.dtype != np.uint8:
        img = np.clip(img * 255.0, 0, 255).astype(np.uint8)
    if img.ndim == 2:
        return np.repeat(img[:, :, None], 3, axis=2)
    if img.shape[2] == 4:
        return np.ascontiguousarray(img[:, :, :3])
    if img.shape[2] == 1:
        return np.repeat(img, 3, axis=2)
    return img


def hotspot_radius(shape: tuple[int, ...]) -> int:
    """Half-side of the box drawn around an NG frame's peak: 1/20 of the frame's smaller side."""
    return max(4, min(shape[:2]) // 20)


def render_overlay(
    image: np.ndarray, result: InspectionResult, opacity: float = 0.5, pixel_threshold: float = 0.5
) -> np.ndarray:
    """RGB uint8: heatmap (transparent below the pixel threshold), red outlines, boxes and verdict."""
    base = to_rgb8(image).copy()
    amap = result.anomaly_map
    if amap.shape != base.shape[:2]:
        amap = cv2.resize(amap, (base.shape[1], base.shape[0]))
    heat = cv2.applyColorMap(np.clip(amap * 255, 0, 255).astype(np.uint8), cv2.COLORMAP_JET)[:, :, ::-1]
    alpha = (amap >= pixel_threshold * 0.8).astype(np.float32)[:, :, None] * opacity
    out = (base * (1 - alpha) + heat * alpha).astype(np.uint8)
    mask = result.mask.astype(np.uint8)
    if mask.shape != base.shape[:2]:
        mask = cv2.resize(mask, (base.shape[1], base.shape[0]), interpolation=cv2.INTER_NEAREST)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    thick = max(1, round(max(base.shape[:2]) / 400))
    cv2.drawContours(out, contours, -1, (255, 0, 0), thick)
    for d in result.defects:
        x0, y0, x1, y1 = d.bbox
        cv2.rectangle(out, (x0, y0), (x1 - 1, y1 - 1), (255, 255, 0), thick)
        cv2.putText(
            out,
            f"{d.id}:{d.max_score:.2f}",
            (x0, max(12, y0 - 3)),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.4 * thick,
            (255, 255, 0),
            thick,
        )
    if result.hotspot is not None:  # NG without a region: frame the map's peak
        mh, mw = result.anomaly_map.shape[:2]
        x = round(result.hotspot[0] * base.shape[1] / mw)
        y = round(result.hotspot[1] * base.shape[0] / mh)
        r = hotspot_radius(base.shape)
        cv2.rectangle(out, (x - r, y - r), (x + r, y + r), (255, 255, 0), thick)
    color = (220, 30, 30) if result.verdict is Verdict.NG else (30, 180, 30)
    cv2.putText(
        out,
        f"{result.verdict} {result.score:.3f}",
        (8, 24 * thick),
        cv2.FONT_HERSHEY_SIMPLEX,
        0.7 * thick,
        color,
        2 * thick,
    )
    return out
