"""Defects for the simulated web: scratches, spots, holes, creases and foreign texture.

Each defect is a small patch in web coordinates, composited onto the surface before illumination:
surface = surface * (1 - alpha) + alpha * target + delta, with its ground-truth mask. Surface values
are in digital numbers (0..255) before the illumination gain. Sizes scale with the frame size so tiny
test frames still get visible defects.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from inspection_core.data.synthesis import perlin_mask
from inspection_core.errors import CameraError

DEFECT_TYPES = ("scratch", "spot", "hole", "crease", "foreign")


@dataclass(frozen=True)
class WebDefect:
    """A defect placed on the web; (y, x) is the top-left corner in absolute web pixels."""

    kind: str
    y: int
    x: int
    alpha: np.ndarray  # float32 hxw in [0, 1]
    target: np.ndarray  # float32 hxw, the defect's own surface value (DN)
    delta: np.ndarray  # float32 hxw, added after the alpha blend (DN)
    mask: np.ndarray  # bool hxw ground truth

    @property
    def h(self) -> int:
        return int(self.mask.shape[0])

    @property
    def w(self) -> int:
        return int(self.mask.shape[1])


def check_types(types: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    bad = [t for t in types if t not in DEFECT_TYPES]
    if bad or not types:
        raise CameraError(
            f"unknown defect type(s) {bad or '(none given)'}; choose from {', '.join(DEFECT_TYPES)}"
        )
    return tuple(types)


def _soft(mask_u8: np.ndarray, sigma: float) -> np.ndarray:
    f = mask_u8.astype(np.float32) / 255.0
    return cv2.GaussianBlur(f, (0, 0), max(sigma, 0.3)) if sigma > 0 else f


def _scratch(rng: np.random.Generator, scale: float, level: float) -> tuple[np.ndarray, ...]:
    length = rng.uniform(60, 320) * scale
    size = int(length) + 8
    canvas = np.zeros((size, size), np.uint8)
    p0 = rng.uniform(4, size - 4, 2)
    ang = rng.uniform(0, np.pi)
    p2 = np.clip(p0 + length * np.array([np.cos(ang), np.sin(ang)]), 4, size - 4)
    bend = rng.normal(0, 0.15 * length, 2)
    t = np.linspace(0, 1, 48)[:, None]
    pts = (1 - t) ** 2 * p0 + 2 * (1 - t) * t * ((p0 + p2) / 2 + bend) + t**2 * p2
    thick = max(1, int(round(rng.uniform(1, 3) * max(scale, 0.5))))
    cv2.polylines(canvas, [pts.astype(np.int32)], False, 255, thick, cv2.LINE_AA)
    alpha = _soft(canvas, 0.6) * rng.uniform(0.6, 0.95)
    bright = rng.random() < 0.7  # scratches on a textured metal/ceramic usually catch the light
    target = np.full_like(alpha, 245.0 if bright else 20.0)
    return alpha, target, np.zeros_like(alpha), alpha > 0.2


def _spot(rng: np.random.Generator, scale: float, level: float) -> tuple[np.ndarray, ...]:
    r = max(3.0, rng.uniform(5, 28) * scale)
    size = int(4 * r) + 4
    canvas = np.zeros((size, size), np.uint8)
    axes = (max(2, int(r)), max(2, int(r * rng.uniform(0.5, 1.0))))
    cv2.ellipse(
        canvas, (size // 2, size // 2), axes, float(rng.uniform(0, 180)), 0, 360, 255, -1, cv2.LINE_AA
    )
    alpha = _soft(canvas, r * 0.35) * rng.uniform(0.55, 0.9)
    target = np.full_like(alpha, level * rng.choice([0.3, 1.7]))
    return alpha, target, np.zeros_like(alpha), alpha > 0.25


def _hole(rng: np.random.Generator, scale: float, level: float) -> tuple[np.ndarray, ...]:
    r = max(2.5, rng.uniform(4, 16) * scale)
    size = int(3 * r) + 6
    c = size // 2
    canvas = np.zeros((size, size), np.uint8)
    cv2.circle(canvas, (c, c), int(round(r)), 255, -1, cv2.LINE_AA)
    alpha = _soft(canvas, 0.7)
    target = np.full_like(alpha, 6.0)
    rim = np.zeros((size, size), np.uint8)  # the lit far edge of the hole's wall
    cv2.circle(rim, (c, c), int(round(r)) + 1, 255, max(1, int(r / 4)), cv2.LINE_AA)
    yy = np.arange(size, dtype=np.float32)[:, None] - c
    delta = _soft(rim, 0.8) * np.clip(yy / max(r, 1.0), 0, 1) * 90.0
    return alpha, target, delta, (alpha > 0.3) | (delta > 20)


def _crease(rng: np.random.Generator, scale: float, level: float) -> tuple[np.ndarray, ...]:
    length = rng.uniform(200, 700) * scale
    s = max(1.2, rng.uniform(2.0, 5.0) * scale)  # half-width of the fold
    ang = rng.uniform(0, np.pi)
    d = np.array([np.cos(ang), np.sin(ang)])
    hw = int(abs(d[0]) * length / 2 + 4 * s) + 2
    hh = int(abs(d[1]) * length / 2 + 4 * s) + 2
    yy, xx = np.mgrid[-hh : hh + 1, -hw : hw + 1].astype(np.float32)
    along = xx * d[0] + yy * d[1]
    across = -xx * d[1] + yy * d[0]
    fade = np.clip((length / 2 - np.abs(along)) / (length * 0.1), 0, 1)  # tapered ends
    prof = -(across / s) * np.exp(0.5 - 0.5 * (across / s) ** 2)  # derivative of a Gaussian, peak ±1
    delta = (prof * fade * rng.uniform(45, 80)).astype(np.float32)
    alpha = np.zeros_like(delta)
    mask = (np.abs(across) < 1.8 * s) & (fade > 0.3)
    return alpha, np.zeros_like(delta), delta, mask


def _foreign(
    rng: np.random.Generator, scale: float, level: float, foreign: np.ndarray
) -> tuple[np.ndarray, ...]:
    size = max(12, int(rng.uniform(40, 150) * scale))
    m = perlin_mask((size, size), rng, threshold=0.1, min_scale=1, max_scale=3, min_area_frac=0.25)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / (size - 1) - 0.5
    m *= (xx**2 + yy**2) < 0.22  # keep it a blob, away from the patch border
    if m.sum() < 4:
        m[size // 3 : 2 * size // 3, size // 3 : 2 * size // 3] = 1
    alpha = cv2.GaussianBlur(m, (0, 0), 1.0)
    fy = int(rng.integers(0, foreign.shape[0] - size + 1))
    fx = int(rng.integers(0, foreign.shape[1] - size + 1))
    patch = foreign[fy : fy + size, fx : fx + size]
    target = level * rng.uniform(0.5, 1.5) + patch * rng.uniform(25, 45)
    return alpha, target.astype(np.float32), np.zeros_like(alpha), alpha > 0.4


def make_defect(
    kind: str, rng: np.random.Generator, scale: float, level: float, foreign: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(alpha, target, delta, mask) for one defect of `kind`, cropped to the mask's bounding box."""
    if kind == "foreign":
        parts = _foreign(rng, scale, level, foreign)
    else:
        parts = {"scratch": _scratch, "spot": _spot, "hole": _hole, "crease": _crease}[kind](
            rng, scale, level
        )
    alpha, target, delta, mask = (np.ascontiguousarray(p) for p in parts)
    influence = mask | (alpha > 0.01) | (np.abs(delta) > 0.5)
    ys, xs = np.nonzero(influence)
    if ys.size == 0:
        raise CameraError(f"internal: empty {kind} defect")
    sl = np.s_[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    return alpha[sl].astype(np.float32), target[sl].astype(np.float32), delta[sl].astype(np.float32), mask[sl]


def composite(surface: np.ndarray, mask_out: np.ndarray, d: WebDefect, top: int) -> bool:
    """Paint defect `d` onto the frame `surface` whose first row is absolute web row `top`.

    Returns True when any of its ground-truth pixels are inside the frame.
    """
    fh, fw = surface.shape
    y0, x0 = d.y - top, d.x
    fy0, fy1 = max(y0, 0), min(y0 + d.h, fh)
    fx0, fx1 = max(x0, 0), min(x0 + d.w, fw)
    if fy0 >= fy1 or fx0 >= fx1:
        return False
    py, px = np.s_[fy0 - y0 : fy1 - y0], np.s_[fx0 - x0 : fx1 - x0]
    region = surface[fy0:fy1, fx0:fx1]
    a = d.alpha[py, px]
    region *= 1.0 - a
    region += a * d.target[py, px] + d.delta[py, px]
    m = d.mask[py, px]
    mask_out[fy0:fy1, fx0:fx1] |= m
    return bool(m.any())
