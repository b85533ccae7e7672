"""Threshold history: every 'apply' keeps the values it replaced, so any earlier setting is restorable.

Thresholds live in one place, the recipe (`aoi calibrate --write --recipe`, Apply in Tune); a model
folder carries only its calibration (normalisation: 0.5 = calibrated).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from inspection_core.postprocess.settings import PostprocessSettings


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


@dataclass(frozen=True)
class ThresholdEntry:
    """Threshold values as they were until `replaced_at` (why: `note`)."""

    image_threshold: float
    pixel_threshold: float
    min_defect_area: int
    replaced_at: str
    note: str = ""

    @classmethod
    def of(cls, settings: PostprocessSettings, note: str = "") -> ThresholdEntry:
        return cls(
            settings.image_threshold, settings.pixel_threshold, settings.min_defect_area, now_iso(), note
        )

    def applied_to(self, settings: PostprocessSettings) -> PostprocessSettings:
        return settings.with_(
            image_threshold=self.image_threshold,
            pixel_threshold=self.pixel_threshold,
            min_defect_area=self.min_defect_area,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ThresholdEntry:
        return cls(
            float(d["image_threshold"]),
            float(d["pixel_threshold"]),
            int(d.get("min_defect_area", 0)),
            str(d.get("replaced_at", "")),
            str(d.get("note", "")),
        )


def apply_thresholds(
    settings: PostprocessSettings,
    history: tuple[ThresholdEntry, ...],
    image_threshold: float | None = None,
    pixel_threshold: float | None = None,
    min_defect_area: int | None = None,
    note: str = "",
) -> tuple[PostprocessSettings, tuple[ThresholdEntry, ...]]:
    """New settings and history; the replaced values are appended to the history."""
    new = settings.with_(
        image_threshold=settings.image_threshold if image_threshold is None else float(image_threshold),
        pixel_threshold=settings.pixel_threshold if pixel_threshold is None else float(pixel_threshold),
        min_defect_area=settings.min_defect_area if min_defect_area is None else int(min_defect_area),
    )
    return new, (*history, ThresholdEntry.of(settings, note))


def restore_thresholds(
    settings: PostprocessSettings, history: tuple[ThresholdEntry, ...], index: int
) -> tuple[PostprocessSettings, tuple[ThresholdEntry, ...]]:
    """Go back to history[index] (negative indices count from the newest); restoring is itself undoable."""
    try:
        entry = history[index]
    except IndexError:
        raise IndexError(f"no threshold history entry {index} (history has {len(history)})") from None
    return entry.applied_to(settings), (*history, ThresholdEntry.of(settings, f"restored entry {index}"))
