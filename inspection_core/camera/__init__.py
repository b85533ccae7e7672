"""Frame sources: GenICam cameras (Harvesters), replayed recordings and the simulated web.

Specs (what a recipe, the CLI and the GUI store):
  simulated            the demo web, 1024x1024 Mono8 at 15 fps
  simulated:WxH        the demo web at another frame size
  replay:PATH          a folder of images or a video file
  genicam              the first GenTL device found
  genicam:ID_OR_SERIAL a GenTL device by id or serial number
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from inspection_core.camera.base import (
    CameraLost,
    CameraTimeout,
    EndOfStream,
    FeatureInfo,
    FrameSource,
    SourceInfo,
    SourceState,
    SourceStats,
)
from inspection_core.errors import CameraError

__all__ = [
    "CameraError",
    "CameraLost",
    "CameraTimeout",
    "EndOfStream",
    "FeatureInfo",
    "FrameSource",
    "SourceInfo",
    "SourceState",
    "SourceStats",
    "create_source",
    "list_sources",
    "open_source",
]


def list_sources(
    cti_paths: Iterable[str | os.PathLike[str]] = (), include_genicam: bool = True
) -> list[SourceInfo]:
    """Every GenTL device found, then the simulated web. Replays are opened by path, not listed.

    A producer that cannot be loaded is skipped (its warning is in `genicam.producer_problems()`);
    other GenTL problems are raised as CameraError: the caller decides whether to show them.
    """
    out: list[SourceInfo] = []
    if include_genicam:
        from inspection_core.camera.genicam import list_devices

        out.extend(d.source_info() for d in list_devices(cti_paths))
    out.append(
        SourceInfo(
            kind="simulated", spec="simulated", label="Simulated web 1024x1024 (demo)", vendor="aoi-station"
        )
    )
    return out


def create_source(spec: str, **kw: Any) -> FrameSource:
    """A closed source for `spec` (see the module doc); keyword arguments go to its constructor."""
    kind, _, arg = spec.strip().partition(":")
    kind = kind.lower()
    if kind == "simulated":
        from inspection_core.camera.simulated import SimulatedWeb

        if arg:
            try:
                w, h = (int(v) for v in arg.lower().split("x"))
            except ValueError:
                raise CameraError(f"bad simulated size {arg!r}: use simulated:WIDTHxHEIGHT") from None
            kw.setdefault("width", w)
            kw.setdefault("height", h)
        return SimulatedWeb(**kw)
    if kind == "replay":
        from inspection_core.camera.replay import ReplaySource

        if not arg:
            raise CameraError("replay needs a path: replay:PATH")
        return ReplaySource(arg, **kw)
    if kind == "genicam":
        from inspection_core.camera.genicam import GenICamSource

        return GenICamSource(arg or kw.pop("device", None), **kw)
    raise CameraError(f"unknown source {spec!r}: use simulated[:WxH], replay:PATH or genicam[:ID_OR_SERIAL]")


def open_source(spec: str, **kw: Any) -> FrameSource:
    """`create_source` and open it (state OPEN; call start() to stream)."""
    src = create_source(spec, **kw)
    src.open()
    return src
