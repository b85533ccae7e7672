"""A frame shown without inspection (no model loaded yet): the camera-first set-up of a new product.

The inference worker emits one when it has no Inspector, so the live view, capture and the camera
panel work before any model exists; nothing is counted (the station is NOT INSPECTING meanwhile).
`RawFeed` coalesces them on the GUI thread to at most one draw per screen refresh.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QObject, QTimer

from app.display_data import to_display8
from app.state import SessionState
from inspection_core.types import Frame

MIN_DRAW_INTERVAL_S = 1 / 60


@dataclass(frozen=True)
class RawFrame:
    frame: Frame
    image8: np.ndarray  # display-ready uint8, levels fixed at (0, 255)
    t_grab: float
    skipped: int = 0


def prepare_raw(frame: Frame, t_grab: float, skipped: int = 0) -> RawFrame:
    return RawFrame(frame, to_display8(frame.image), t_grab, skipped)


class RawFeed(QObject):
    """Takes raw frames from the inference worker (queued) and shows the newest at screen rate."""

    def __init__(self, state: SessionState, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self._pending: RawFrame | None = None
        self._last = 0.0
        self.shown = 0
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._show)

    def put(self, raw: RawFrame) -> None:
        self._pending = raw
        if not self._timer.isActive():
            wait = MIN_DRAW_INTERVAL_S - (time.perf_counter() - self._last)
            self._timer.start(max(0, int(wait * 1000)))

    def flush(self) -> None:
        self._timer.stop()
        self._show()

    def _show(self) -> None:
        raw, self._pending = self._pending, None
        if raw is None:
            return
        self._last = time.perf_counter()
        self.shown += 1
        self.state.show_raw(raw)
