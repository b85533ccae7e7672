"""The app's view of frame sources: what the picker lists, how a picked entry is opened, and the
source problems that do not stop inspection (a GenTL producer skipped, a replay file unreadable).

The sources themselves live in `inspection_core.camera`; this module only adds the picker's
fixed entries (simulated web, replay folder) and turns "not available" into one clear error.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
from typing import Any

from PySide6.QtCore import QObject, Signal

from app.state import SessionState
from inspection_core.camera.base import FrameSource, SourceInfo
from inspection_core.errors import CameraError

SIMULATED = SourceInfo(kind="simulated", spec="simulated", label="Simulated web (demo)")


def _camera_module() -> Any:
    try:
        return importlib.import_module("inspection_core.camera")
    except ImportError as exc:  # pragma: no cover - only while the camera package is being built
        raise CameraError(f"camera sources are not available: {exc}") from exc


def scan_sources() -> tuple[list[SourceInfo], list[str]]:
    """Every source the picker offers (the simulated web first), and the problems met finding them.

    A problem (a GenTL producer skipped, an enumeration that failed) must neither hide the other
    sources nor go unsaid: an unplugged-looking camera whose producer is broken costs a line an hour.
    """
    found: list[SourceInfo] = [SIMULATED]
    problems: list[str] = []
    try:
        mod = _camera_module()
        lister = getattr(mod, "list_sources", None)
        for info in lister() if lister else []:
            if info.spec != SIMULATED.spec:
                found.append(info)
    except Exception as exc:  # noqa: BLE001 - a broken producer must not break the picker
        problems.append(f"cameras could not be listed: {exc}")
    try:
        from inspection_core.camera.genicam import producer_problems
    except ImportError:  # no Harvesters: no producers to skip
        return found, problems
    return found, producer_problems() + problems


def list_sources() -> list[SourceInfo]:
    """The picker's sources (see `scan_sources` for the problems met on the way)."""
    return scan_sources()[0]


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


CAMERA_LOGGER = "inspection_core.camera"


class _Relay(logging.Handler):
    """Hands the camera package's warnings, logged in whichever thread met them, to a Qt signal."""

    def __init__(self, signal: Any) -> None:
        super().__init__(logging.WARNING)
        self._signal = signal

    def emit(self, record: logging.LogRecord) -> None:
        # RuntimeError: the receiver was deleted between its destruction and this handler's removal
        with contextlib.suppress(RuntimeError):
            self._signal.emit(record.getMessage())


class SourceWarnings(QObject):
    """Source problems that leave inspection running, shown once each as warnings (not errors).

    The core logs them where it meets them: the replay source when it skips an unreadable file (in
    the acquisition thread), the GenTL hub when it skips a producer. A logging handler relays each
    record through a signal, queued to the GUI thread, into the session's notifications; a message
    already said is not repeated (a looping replay meets its bad file on every pass).
    """

    warned = Signal(str)

    def __init__(self, state: SessionState, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.said: list[str] = []
        self.warned.connect(self.warn)  # queued when emitted from a worker thread
        logger = logging.getLogger(CAMERA_LOGGER)
        if not logger.isEnabledFor(logging.WARNING):  # a quieter logging set-up must not hide them
            logger.setLevel(logging.WARNING)
        handler = _Relay(self.warned)
        logger.addHandler(handler)
        self.destroyed.connect(lambda *_: logger.removeHandler(handler))

    def warn(self, message: str) -> None:
        if message in self.said:
            return
        self.said.append(message)
        self.state.notify("warning", message)
