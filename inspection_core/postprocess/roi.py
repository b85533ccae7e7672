"""Inspection regions: rectangles and polygons to inspect, and 'ignore' regions cut out of them."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Literal

import cv2
import numpy as np


@dataclass(frozen=True)
class RoiShape:
    """A rectangle (two corner points) or polygon (≥ 3 points) in frame pixel coordinates (x, y)."""

    kind: Literal["rect", "polygon"]
    points: tuple[tuple[float, float], ...]
    ignore: bool = False

    def __post_init__(self) -> None:
        if self.kind == "rect" and len(self.points) != 2:
            raise ValueError("a rect ROI needs exactly two corner points")
        if self.kind == "polygon" and len(self.points) < 3:
            raise ValueError("a polygon ROI needs at least three points")
        if self.kind not in ("rect", "polygon"):
            raise ValueError(f"unknown ROI kind {self.kind!r}")

    @classmethod
    def rect(cls, x0: float, y0: float, x1: float, y1: float, ignore: bool = False) -> RoiShape:
        return cls("rect", ((float(x0), float(y0)), (float(x1), float(y1))), ignore)

    @classmethod
    def polygon(cls, points: list[tuple[float, float]], ignore: bool = False) -> RoiShape:
        return cls("polygon", tuple((float(x), float(y)) for x, y in points), ignore)

    def draw(self, canvas: np.ndarray, value: int) -> None:
        if self.kind == "rect":
            (x0, y0), (x1, y1) = self.points
            xa, xb = sorted((int(round(x0)), int(round(x1))))
            ya, yb = sorted((int(round(y0)), int(round(y1))))
            canvas[max(ya, 0) : max(yb, 0), max(xa, 0) : max(xb, 0)] = value
        else:
            pts = np.round(np.array(self.points)).astype(np.int32)
            cv2.fillPoly(canvas, [pts], value)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "points": [list(p) for p in self.points], "ignore": self.ignore}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RoiShape:
        return cls(
            d["kind"], tuple((float(x), float(y)) for x, y in d["points"]), bool(d.get("ignore", False))
        )


@dataclass(frozen=True)
class Roi:
    """Union of the include shapes (whole frame when none) minus the union of the ignore shapes."""

    shapes: tuple[RoiShape, ...] = field(default_factory=tuple)

    @property
    def is_full_frame(self) -> bool:
        return not self.shapes

    def mask(self, shape: tuple[int, int]) -> np.ndarray | None:
        """HxW bool mask of inspected pixels (read-only), or None when the whole frame is inspected.

        Cached per (ROI, frame size): every frame of a run uses the same mask, so it is drawn once.
        """
        if not self.shapes:
            return None
        return _cached_mask(self, (int(shape[0]), int(shape[1])))

    def _draw_mask(self, shape: tuple[int, int]) -> np.ndarray:
        includes = [s for s in self.shapes if not s.ignore]
        canvas = np.zeros(shape, np.uint8) if includes else np.ones(shape, np.uint8)
        for s in includes:
            s.draw(canvas, 1)
        for s in self.shapes:
            if s.ignore:
                s.draw(canvas, 0)
        out = canvas.astype(bool)
        out.flags.writeable = False
        return out

    def to_list(self) -> list[dict[str, Any]]:
        return [s.to_dict() for s in self.shapes]

    @classmethod
    def from_list(cls, items: list[dict[str, Any]] | None) -> Roi:
        return cls(tuple(RoiShape.from_dict(d) for d in (items or [])))


@functools.lru_cache(maxsize=8)
def _cached_mask(roi: Roi, shape: tuple[int, int]) -> np.ndarray:
    return roi._draw_mask(shape)
