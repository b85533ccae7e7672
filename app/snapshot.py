"""Snapshot = raw frame (lossless) + overlay PNG + JSON of the result, side by side in one folder."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from app.display_data import InspectedFrame
from inspection_core.data.imageio import imwrite
from inspection_core.render import render_overlay


def _jsonable_meta(meta: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in meta.items():
        if isinstance(v, np.ndarray):
            continue  # e.g. the simulated source's defect_mask: not for the sidecar
        if isinstance(v, np.generic):
            v = v.item()
        try:
            json.dumps(v)
        except TypeError:
            v = str(v)
        out[k] = v
    return out


def save_snapshot(item: InspectedFrame, directory: Path, pixel_threshold: float = 0.5) -> dict[str, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    stem = f"{time.strftime('%Y%m%d-%H%M%S')}_f{item.frame.frame_id:06d}_{item.result.verdict}"
    raw, overlay, side = (
        directory / f"{stem}_raw.png",
        directory / f"{stem}_overlay.png",
        directory / f"{stem}.json",
    )
    imwrite(raw, item.frame.image)
    imwrite(overlay, render_overlay(item.frame.image, item.result, pixel_threshold=pixel_threshold))
    doc = {
        "result": item.result.summary(),
        "frame": {
            "frame_id": item.frame.frame_id,
            "timestamp_ns": item.frame.timestamp_ns,
            "source": item.frame.source,
            "shape": list(item.frame.image.shape),
            "dtype": str(item.frame.image.dtype),
            "meta": _jsonable_meta(item.frame.meta),
        },
        "files": {"raw": raw.name, "overlay": overlay.name},
    }
    side.write_text(json.dumps(doc, indent=2))
    return {"raw": raw, "overlay": overlay, "json": side}
