"""NG image store: raw frame (lossless PNG) + overlay + JSON per rejected part, in day folders.

It refuses to fill the disk: below `min_free_mb` it stops writing images (and says so) instead of
letting the log or the OS fail; the log row is still written.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np

from inspection_core.data.imageio import imwrite
from inspection_core.errors import AoiError, DataError
from inspection_core.render import render_overlay
from inspection_core.types import InspectionResult


class DiskFullError(AoiError):
    """Not enough free space to store an image."""


class NGImageStore:
    def __init__(self, root: str | Path, min_free_mb: float = 500.0) -> None:
        self.root = Path(root)
        self.min_free_mb = min_free_mb
        self.root.mkdir(parents=True, exist_ok=True)

    def free_mb(self) -> float:
        return shutil.disk_usage(self.root).free / 1e6

    def save(self, image: np.ndarray, result: InspectionResult, source: str = "", recipe: str = "") -> Path:
        """Write raw + overlay + JSON; returns the raw image path. DiskFullError when space is low."""
        if self.free_mb() < self.min_free_mb:
            raise DiskFullError(
                f"only {self.free_mb():.0f} MB free under {self.root}; NG images are not being saved"
            )
        day = self.root / time.strftime("%Y-%m-%d")
        stem = f"{time.strftime('%H%M%S')}_{time.time_ns() % 1_000_000_000:09d}_f{result.frame_id}"
        raw = day / f"{stem}_raw.png"
        try:
            imwrite(raw, image)
            imwrite(day / f"{stem}_overlay.png", render_overlay(image, result))
            (day / f"{stem}.json").write_text(
                json.dumps({"source": source, "recipe": recipe, **result.summary()}, indent=1)
            )
        except (DataError, OSError) as exc:
            raise DiskFullError(f"cannot store NG image under {self.root}: {exc}") from exc
        return raw
