"""A new product's captured samples on disk: lossless PNG + JSON sidecar, written as they are captured.

Layout under a product folder (``RecipeStore.product_dir(name) / "samples"`` in the app)::

    good/000001.png  good/000001.json      trained on (and 20 % held out for calibration)
    defective/000001.png ...               validation only, never trained on

Each image is written atomically (`imwrite`: temp file + rename) before its sidecar, so a crash loses
at most the sample being written and never leaves a half image; a PNG without sidecar is still a
sample. Samples are numbered per kind and numbers are never reused within a session.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from inspection_core.calibration.history import now_iso
from inspection_core.data.dataset import find_images
from inspection_core.data.imageio import IMAGE_EXTENSIONS, imread, imwrite
from inspection_core.errors import DataError
from inspection_core.runtime.atomic import atomic_write_text
from inspection_core.types import Frame

Kind = Literal["good", "defective"]
KINDS: tuple[Kind, ...] = ("good", "defective")
# the pipeline's minimum (one image to fit, one to calibrate); whether a product's samples are enough is
# measured by training (CalibrationFacts.advice: the threshold's stability across folds), not fixed
MIN_GOOD = 2
_ID_RE = re.compile(r"^(\d{6,})\.png$")
_META_KEYS = ("exposure_us", "gain_db", "pixel_format", "width", "height", "offset_x", "offset_y")


@dataclass(frozen=True)
class CapturedSample:
    """One sample on disk. `meta` is the sidecar (time, source, frame id, camera settings)."""

    kind: Kind
    id: int
    path: Path
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def sidecar(self) -> Path:
        return self.path.with_suffix(".json")


def _check_kind(kind: str) -> Kind:
    if kind not in KINDS:
        raise DataError(f"unknown sample kind {kind!r}: use good or defective")
    return kind  # type: ignore[return-value]


def camera_meta(meta: dict[str, Any]) -> dict[str, Any]:
    """The JSON-safe camera settings of a frame's meta (arrays such as a simulated defect mask dropped)."""
    return {k: meta[k] for k in _META_KEYS if k in meta and isinstance(meta[k], str | int | float | None)}


class SampleSet:
    """The good / defective samples of one product under `root` (created on first capture)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._next: dict[str, int] = {}

    def folder(self, kind: Kind) -> Path:
        return self.root / _check_kind(kind)

    def list(self, kind: Kind) -> list[CapturedSample]:
        """Samples of one kind in capture order (sidecars that do not parse are treated as empty)."""
        d = self.folder(kind)
        if not d.is_dir():
            return []
        out = []
        for p in sorted(d.iterdir()):
            m = _ID_RE.match(p.name)
            if not m:
                continue
            meta: dict[str, Any] = {}
            side = p.with_suffix(".json")
            if side.is_file():
                try:
                    meta = json.loads(side.read_text(encoding="utf-8"))
                except (OSError, ValueError):
                    meta = {}
            out.append(CapturedSample(kind, int(m.group(1)), p, meta if isinstance(meta, dict) else {}))
        return out

    def count(self, kind: Kind) -> int:
        return len(self.list(kind))

    def paths(self, kind: Kind) -> list[Path]:
        return [s.path for s in self.list(kind)]

    def _next_id(self, kind: Kind) -> int:
        used = [s.id for s in self.list(kind)]
        n = max([*used, self._next.get(kind, 0)], default=0) + 1
        self._next[kind] = n
        return n

    def add(
        self, image: np.ndarray, kind: Kind = "good", source: str = "", meta: dict[str, Any] | None = None
    ) -> CapturedSample:
        """Write one image (lossless PNG) and its sidecar now; DataError on a bad image or full disk."""
        kind = _check_kind(kind)
        if not isinstance(image, np.ndarray) or image.ndim not in (2, 3) or min(image.shape[:2]) < 8:
            raise DataError(f"cannot capture: not an image (shape {getattr(image, 'shape', None)})")
        if image.dtype not in (np.uint8, np.uint16):
            raise DataError(f"cannot capture {image.dtype} images losslessly: expected uint8 or uint16")
        sid = self._next_id(kind)
        path = self.folder(kind) / f"{sid:06d}.png"
        imwrite(path, image)
        side = {
            "kind": kind,
            "time": now_iso(),
            "source": source,
            "height": int(image.shape[0]),
            "width": int(image.shape[1]),
            "dtype": str(image.dtype),
            **(meta or {}),
        }
        try:
            atomic_write_text(path.with_suffix(".json"), json.dumps(side, indent=2), DataError)
        except DataError:
            path.unlink(missing_ok=True)
            raise
        return CapturedSample(kind, sid, path, side)

    def add_frame(
        self, frame: Frame, kind: Kind = "good", extra: dict[str, Any] | None = None
    ) -> CapturedSample:
        """Capture a camera frame with its time, source, frame id and camera settings in the sidecar;
        `extra` adds keys (e.g. the live model's verdict on it)."""
        meta = {
            "frame_id": frame.frame_id,
            "timestamp_ns": frame.timestamp_ns,
            "camera": camera_meta(frame.meta),
            **(extra or {}),
        }
        return self.add(frame.image, kind, frame.source, meta)

    def import_files(self, files: list[str | os.PathLike[str]], kind: Kind = "good") -> list[CapturedSample]:
        """Copy image files (or every image in given folders) in as samples; unreadable files are errors."""
        paths: list[Path] = []
        for f in files:
            p = Path(f)
            if p.is_dir():
                found = find_images(p)
                if not found:
                    raise DataError(f"no images in folder {p}")
                paths += found
            elif p.suffix.lower() in IMAGE_EXTENSIONS:
                paths.append(p)
            else:
                raise DataError(f"not an image file: {p}")
        images = [(p, imread(p)) for p in paths]  # read all first: a bad file imports nothing
        return [
            self.add(img, kind, source=f"import:{p}", meta={"imported_from": str(p)}) for p, img in images
        ]

    def remove(self, sample: CapturedSample) -> None:
        """Delete a sample (image and sidecar)."""
        sample.path.unlink(missing_ok=True)
        sample.sidecar.unlink(missing_ok=True)
