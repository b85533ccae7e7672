"""The app's view of frame sources: what the picker lists and how a picked entry is opened.

The sources themselves live in `inspection_core.camera`; this module only adds the picker's
fixed entries (simulated web, replay folder) and turns "not available" into one clear error.
"""

from __future__ import annotations

import importlib
from typing import Any

from inspection_core.camera.base import FrameSource, SourceInfo
from inspection_core.errors import CameraError

SIMULATED = SourceInfo(kind="simulated", spec="simulated", label="Simulated web (demo)")


def _camera_module() -> Any:
    try:
        return importlib.import_module("inspection_core.camera")
    except ImportError as exc:  # pragma: no cover - only while the camera package is being built
        raise CameraError(f"camera sources are not available: {exc}") from exc


def list_sources() -> list[SourceInfo]:
    """Every source the picker offers: the simulated web first, then what the camera package finds.

    Enumeration errors (a broken .cti) must not hide the other sources, so they are swallowed here
    and the picker simply shows fewer entries.
    """
    found: list[SourceInfo] = [SIMULATED]
    try:
        mod = _camera_module()
        lister = getattr(mod, "list_sources", None)
        for info in lister() if lister else []:
            if info.spec != SIMULATED.spec:
                found.append(info)
    except Exception:  # noqa: BLE001 - a broken producer must not break the picker
        pass
    return found


def open_source(spec: str, **kw: Any) -> FrameSource:
    """Open (not start) the source named by `spec`; any failure is a CameraError with one clear line."""
    mod = _camera_module()
    opener = getattr(mod, "open_source", None)
    if opener is None:
        raise CameraError("camera sources are not available (inspection_core.camera.open_source missing)")
    try:
        src = opener(spec, **kw)
    except CameraError:
        raise
    except TypeError as exc:
        raise CameraError(f"cannot open source {spec!r}: {exc}") from exc
    if src.state.value == "closed":
        src.open()
    return src


def open_demo_source(defect_rate: float | None = None) -> FrameSource:
    """The simulated web; `defect_rate=0` gives good frames for fitting the demo model."""
    kw: dict[str, Any] = {} if defect_rate is None else {"defect_rate": defect_rate}
    return open_source("simulated", **kw)
