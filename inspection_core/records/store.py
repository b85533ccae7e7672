"""Image store: raw frame (lossless PNG) + overlay + JSON per stored part (every NG part, sampled OK
parts), in day folders.

It refuses to fill the disk: below `min_free_mb` it stops writing images (and says so) instead of
letting the log or the OS fail; the log row is still written. With `quota_mb` it keeps its own size
under the quota by deleting the oldest sets first (retention); `save` returns what it deleted, so the
log can say that those images are gone rather than point at missing files.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from collections import deque
from pathlib import Path

import numpy as np

from inspection_core.data.imageio import imwrite
from inspection_core.errors import AoiError, DataError
from inspection_core.render import render_overlay
from inspection_core.types import InspectionResult


class DiskFullError(AoiError):
    """Not enough free space to store an image."""


def free_mb(path: str | Path) -> float:
    """Free space on the disk holding `path`, in MB (OSError when it cannot be read)."""
    return shutil.disk_usage(path).free / 1e6


class NGImageStore:
    def __init__(self, root: str | Path, min_free_mb: float = 500.0, quota_mb: float | None = None) -> None:
        self.root = Path(root)
        self.min_free_mb = min_free_mb
        self.quota_mb = quota_mb
        self.root.mkdir(parents=True, exist_ok=True)
        self.deleted = 0  # sets removed by retention
        # oldest first: (raw path, bytes of raw + overlay + JSON); names sort in time order
        self._sets: deque[tuple[Path, int]] = deque(
            (raw, self._set_size(raw)) for raw in sorted(self.root.glob("*/*_raw.png"))
        )
        self.used_bytes = sum(n for _, n in self._sets)

    @staticmethod
    def _set_files(raw: Path) -> tuple[Path, Path, Path]:
        stem = raw.name[: -len("_raw.png")]
        return raw, raw.with_name(f"{stem}_overlay.png"), raw.with_name(f"{stem}.json")

    def _set_size(self, raw: Path) -> int:
        return sum(p.stat().st_size for p in self._set_files(raw) if p.exists())

    def free_mb(self) -> float:
        return free_mb(self.root)

    def save(self, image: np.ndarray, result: InspectionResult, source: str = "", recipe: str = "") -> Path:
        """Write raw + overlay + JSON; returns the raw image path. DiskFullError when space is low."""
        if self.free_mb() < self.min_free_mb:
            raise DiskFullError(
                f"only {self.free_mb():.0f} MB free under {self.root}; images are not being saved"
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
            raise DiskFullError(f"cannot store an image under {self.root}: {exc}") from exc
        size = self._set_size(raw)
        self._sets.append((raw, size))
        self.used_bytes += size
        return raw

    def enforce_quota(self) -> list[Path]:
        """Delete the oldest sets until the store is within `quota_mb` (never the newest one); returns
        the raw paths deleted, for the log to mark."""
        gone: list[Path] = []
        if self.quota_mb is None:
            return gone
        while self.used_bytes > self.quota_mb * 1e6 and len(self._sets) > 1:
            raw, size = self._sets.popleft()
            for p in self._set_files(raw):
                p.unlink(missing_ok=True)
            self.used_bytes -= size
            self.deleted += 1
            gone.append(raw)
            if raw.parent != self._sets[0][0].parent:  # a day folder emptied by retention
                with contextlib.suppress(OSError):
                    raw.parent.rmdir()
        return gone
