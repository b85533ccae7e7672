"""A dependency-free progress bar on stderr for ProgressEvents (one line per stage, redrawn in place)."""

from __future__ import annotations

import sys
import time

from inspection_core.runtime.context import ProgressEvent


class ProgressBar:
    def __init__(self, stream=None, min_interval: float = 0.1) -> None:  # noqa: ANN001
        self.stream = stream or sys.stderr
        self.stage = ""
        self.last = 0.0
        self.min_interval = min_interval
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()

    def __call__(self, ev: ProgressEvent) -> None:
        now = time.monotonic()
        done = ev.total and ev.step >= ev.total
        if ev.stage == self.stage and not done and now - self.last < self.min_interval:
            return
        if ev.stage != self.stage and self.stage:
            self.stream.write("\n")
        self.stage, self.last = ev.stage, now
        width = 30
        filled = int(width * ev.fraction)
        bar = "#" * filled + "-" * (width - filled)
        eta = f" eta {ev.eta_s:5.1f}s" if ev.eta_s is not None and not done else ""
        loss = f" loss {ev.loss:.4g}" if ev.loss is not None else ""
        count = f"{ev.step}/{ev.total}" if ev.total else f"{ev.step}"
        line = f"{ev.stage:>10} [{bar}] {count} {ev.elapsed_s:6.1f}s{eta}{loss}"
        if self.tty:
            self.stream.write("\r" + line)
        elif done or ev.step <= 1 or now - getattr(self, "_last_line", 0) > 5:
            self.stream.write(line + "\n")
            self._last_line = now
        self.stream.flush()

    def close(self) -> None:
        if self.stage and self.tty:
            self.stream.write("\n")
            self.stream.flush()
