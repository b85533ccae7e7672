"""Otsu foreground: where the product is — BFDF's synthetic defects land on it, and the tuning
workspace offers its outline as an ROI suggestion ("Product outline").

BFDF places its negative samples only on the product. For objects on a plain background Otsu's
threshold splits product from background; for textures that fill the frame it would split the
texture's own bright and dark parts instead, so a low Otsu separability (between-class variance over
total variance, η) means "the whole frame is product".
"""

from __future__ import annotations

import cv2
import numpy as np

from inspection_core.postprocess.roi import RoiShape

# η of Otsu on one Gaussian-ish mode is 2/π ≈ 0.64; two clean levels give ≈ 1.
MIN_SEPARABILITY = 0.8
# a "foreground" smaller than this is more likely a stain than the product
MIN_FOREGROUND_FRACTION = 0.05


def _gray_u8(image: np.ndarray) -> np.ndarray:
    img = np.asarray(image)
    if img.ndim == 3:
        img = img.mean(axis=2) if img.shape[2] >= 3 else img[..., 0]
    if img.dtype != np.uint8:
        img = np.clip(img.astype(np.float32) * (255.0 if img.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    return img


def otsu_separability(gray: np.ndarray, threshold: float) -> float:
    """Otsu's η = σ_between² / σ_total² for a uint8 image split at `threshold` (0..1, 1 = two flat levels)."""
    g = gray.astype(np.float64)
    var = g.var()
    if var <= 1e-9:
        return 0.0
    hi = g > threshold
    w1 = hi.mean()
    if w1 in (0.0, 1.0):
        return 0.0
    m0, m1 = g[~hi].mean(), g[hi].mean()
    return float(w1 * (1 - w1) * (m1 - m0) ** 2 / var)


def otsu_foreground(
    image: np.ndarray,
    min_separability: float = MIN_SEPARABILITY,
    min_fraction: float = MIN_FOREGROUND_FRACTION,
) -> np.ndarray:
    """HxW bool product mask of an image (HxW or HxWx3, uint8 or float in [0, 1]).

    Otsu threshold → the class touching less of the frame border is the product → small specks
    opened away, holes closed. Returns all True when the image is a frame-filling texture (low η) or
    the candidate is implausibly small.
    """
    gray = _gray_u8(image)
    h, w = gray.shape
    full = np.ones((h, w), bool)
    blurred = cv2.GaussianBlur(gray, (5, 5), 0)
    t, _ = cv2.threshold(blurred, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    if otsu_separability(blurred, t) < min_separability:
        return full
    hi = blurred > t
    border = np.concatenate([hi[0], hi[-1], hi[:, 0], hi[:, -1]])
    fg = hi if border.mean() <= 0.5 else ~hi
    k = max(3, (min(h, w) // 64) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    m = cv2.morphologyEx(fg.astype(np.uint8), cv2.MORPH_OPEN, kernel)
    m = cv2.morphologyEx(m, cv2.MORPH_CLOSE, kernel)
    if m.mean() < min_fraction:
        return full
    return m.astype(bool)


def foreground_roi(image: np.ndarray, epsilon_frac: float = 0.005, max_side: int = 1024) -> RoiShape | None:
    """An ROI suggestion for the workstation: the polygon around the largest foreground region, in the
    image's pixel coordinates. None when the whole frame is product (nothing to suggest).

    Frames larger than `max_side` are analysed at that size and the polygon scaled back: an outline
    does not need 5 MP, and the button must answer at once.
    """
    h, w = np.asarray(image).shape[:2]
    scale = min(1.0, max_side / max(h, w))
    small = image
    if scale < 1.0:
        small = cv2.resize(
            np.asarray(image),
            (max(1, round(w * scale)), max(1, round(h * scale))),
            interpolation=cv2.INTER_AREA,
        )
    fg = otsu_foreground(small)
    if fg.all():
        return None
    contours, _ = cv2.findContours(fg.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return None
    c = max(contours, key=cv2.contourArea)
    c = cv2.approxPolyDP(c, epsilon_frac * cv2.arcLength(c, True), True)
    if len(c) < 3:
        return None
    sy, sx = h / fg.shape[0], w / fg.shape[1]
    return RoiShape.polygon([(float(p[0][0]) * sx, float(p[0][1]) * sy) for p in c])
