"""A one-frame mailbox between acquisition and inference: a newer frame replaces an unread one.

This is what keeps the display at most one frame behind the camera: inference never works through
a backlog, it always takes the newest frame, and every frame it never saw is counted as dropped.
"""

from __future__ import annotations

import threading
import time

from inspection_core.types import Frame


class LatestFrameSlot:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: tuple[Frame, float] | None = None
        self._closed = False
        self._skipped = 0  # overwritten since the last take
        self.dropped_total = 0

    def put(self, frame: Frame, t_grab: float | None = None) -> None:
        with self._cond:
            if self._item is not None:
                self._skipped += 1
                self.dropped_total += 1
            self._item = (frame, time.perf_counter() if t_grab is None else t_grab)
            self._cond.notify()

    def take(self, timeout_s: float) -> tuple[Frame, float, int] | None:
        """(frame, t_grab, frames skipped before it), or None on timeout or once closed."""
        with self._cond:
            if self._item is None and not self._closed:
                self._cond.wait(timeout_s)
            if self._item is None:
                return None
            frame, t_grab = self._item
            skipped, self._item, self._skipped = self._skipped, None, 0
            self._cond.notify_all()  # a producer waiting in wait_free
            return frame, t_grab, skipped

    def wait_free(self, timeout_s: float) -> bool:
        """Wait until the last frame put was taken (or the slot closed): a producer that must not drop
        frames (a replay being re-inspected) waits here before its next put."""
        with self._cond:
            if self._item is not None and not self._closed:
                self._cond.wait_for(lambda: self._item is None or self._closed, timeout_s)
            return self._item is None or self._closed

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def reopen(self) -> None:
        with self._cond:
            self._closed = False
            self._item = None
            self._skipped = 0
