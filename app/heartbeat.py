"""A QTimer heartbeat on the GUI thread: its largest gap is how long the GUI was ever blocked."""

from __future__ import annotations

import time

from PySide6.QtCore import QObject, QTimer


class Heartbeat(QObject):
    def __init__(self, interval_ms: int = 10, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.interval_ms = interval_ms
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._beat)
        self.reset()

    def reset(self) -> None:
        self._last: float | None = None
        self.max_gap_ms = 0.0
        self._window_gap_ms = 0.0
        self.beats = 0

    def start(self) -> None:
        self.reset()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def _beat(self) -> None:
        now = time.perf_counter()
        if self._last is not None:
            gap = (now - self._last) * 1e3
            self.max_gap_ms = max(self.max_gap_ms, gap)
            self._window_gap_ms = max(self._window_gap_ms, gap)
        self._last = now
        self.beats += 1

    @property
    def max_block_ms(self) -> float:
        """Largest gap minus the timer interval: time the event loop could not run."""
        return max(0.0, self.max_gap_ms - self.interval_ms)

    def take_window_gap_ms(self) -> float:
        """Largest gap since the previous call (a soak samples this: one stall shows where it happened)."""
        gap, self._window_gap_ms = self._window_gap_ms, 0.0
        return gap
