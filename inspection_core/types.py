"""The records that flow from a camera through the inspector to the GUI and the log.

They are plain, immutable-by-convention dataclasses of numpy arrays so they can cross threads
(Qt signals carry them) without sharing driver buffers or torch tensors.
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Frame:
    """One image from a source. `image` is owned by the receiver (never a driver buffer view).

    image: HxW (mono) or HxWx3 (RGB) array, uint8 or uint16.
    meta: exposure_us, gain_db, pixel_format, incomplete, and for simulated sources `defect_mask`.
    """

    image: np.ndarray
    frame_id: int
    timestamp_ns: int
    source: str
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])


class Verdict(enum.StrEnum):
    OK = "OK"
    NG = "NG"


@dataclass(frozen=True)
class Defect:
    """One connected region above the pixel threshold, in frame pixel coordinates.

    bbox is (x0, y0, x1, y1) with x1/y1 exclusive; scores are in normalised units (0.5 = threshold).
    """

    id: int
    bbox: tuple[int, int, int, int]
    area_px: int
    centroid: tuple[float, float]
    max_score: float
    mean_score: float
    area_mm2: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "bbox": list(self.bbox),
            "area_px": self.area_px,
            "area_mm2": self.area_mm2,
            "centroid": [round(self.centroid[0], 2), round(self.centroid[1], 2)],
            "max_score": round(self.max_score, 5),
            "mean_score": round(self.mean_score, 5),
        }


@dataclass(frozen=True)
class InspectionResult:
    """What the inspector says about one frame.

    anomaly_map: HxW float32 in normalised units at frame resolution (0.5 = pixel threshold).
    score: normalised image score (0.5 = image threshold). mask: HxW bool after ROI, morphology and
    minimum-area filtering. timings: milliseconds per stage (preprocess, model, postprocess, total).
    alarm: why this verdict cannot be trusted (e.g. the model's output is not a number), empty when
    all is well. A result with an alarm is always NG (fail closed); the app shows the alarm to the
    operator, since every part failing for that reason needs a person, not a rework bin.
    """

    frame_id: int
    anomaly_map: np.ndarray
    score: float
    verdict: Verdict
    mask: np.ndarray
    defects: tuple[Defect, ...]
    timings: dict[str, float] = field(default_factory=dict)
    raw_score: float = float("nan")
    model_name: str = ""
    alarm: str = ""

    @property
    def is_ng(self) -> bool:
        return self.verdict is Verdict.NG

    @property
    def has_alarm(self) -> bool:
        return bool(self.alarm)

    @functools.cached_property
    def hotspot(self) -> tuple[int, int] | None:
        """(x, y) of the map's peak when the part is NG but no region passed the pixel threshold, so
        an NG frame always shows the operator where to look; None otherwise. Cached: several views ask,
        and an argmax over a 5-MP map is milliseconds (the GUI thread should not pay it again)."""
        if not self.is_ng or self.defects or self.anomaly_map.size == 0:
            return None
        y, x = np.unravel_index(int(np.argmax(self.anomaly_map)), self.anomaly_map.shape[:2])
        return int(x), int(y)

    def summary(self) -> dict[str, Any]:
        """JSON-ready description (no arrays)."""
        return {
            "frame_id": self.frame_id,
            "score": round(float(self.score), 5) if np.isfinite(self.score) else None,
            "raw_score": float(self.raw_score) if np.isfinite(self.raw_score) else None,
            "verdict": str(self.verdict),
            "alarm": self.alarm or None,
            "model": self.model_name,
            "defects": [d.to_dict() for d in self.defects],
            "hotspot": None if (h := self.hotspot) is None else list(h),
            "timings_ms": {k: round(v, 3) for k, v in self.timings.items()},
        }
