"""Acquisition thread: open, read, publish the newest frame, close — and report a lost camera.

The worker owns its source for its whole life (opened and closed in this thread), so a slow
GenTL open never freezes the GUI, and a reconnect is simply a new worker with the same opener.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import Signal

from app.workers.latest import LatestFrameSlot
from app.workers.threads import LoopWorker
from inspection_core.camera.base import CameraLost, CameraTimeout, EndOfStream, FrameSource, SourceState
from inspection_core.camera.control import SourceControl
from inspection_core.errors import AoiError


class AcquisitionWorker(LoopWorker):
    stateChanged = Signal(str)  # "running" | "lost" | "stopped"
    opened = Signal(str)  # the source's label
    lost = Signal(str)

    warned = Signal(str)  # a problem that leaves acquisition running (a recipe setting not applied)
    ended = Signal(str)  # a finite source (a replay played once) delivered its last frame

    def __init__(
        self,
        open_source: Callable[[], FrameSource],
        slot: LatestFrameSlot,
        read_timeout_s: float = 0.25,
        control: SourceControl | None = None,
        prepare: Callable[[FrameSource], list[str]] | None = None,
    ) -> None:
        """control: feature calls from the GUI, run here between two reads (the camera panel).
        prepare: runs on the open source before it starts (a recipe's camera settings, replay options);
        returns one line per problem."""
        super().__init__()
        self.control = control
        self._prepare = prepare
        self._open_source = open_source
        self.slot = slot
        self.read_timeout_s = read_timeout_s
        self.source: FrameSource | None = None
        self.delivered = 0
        self.incomplete = 0

    def _loop(self, source: FrameSource) -> None:
        while not self.stop_requested:
            if self.control is not None:
                self.control.run_pending()
            if source.every_frame and not self.slot.wait_free(self.read_timeout_s):
                continue  # the previous frame is not taken yet: never overwrite it
            try:
                frame = source.read(self.read_timeout_s)
            except CameraTimeout:
                continue
            t_grab = time.perf_counter()
            if frame.meta.get("incomplete"):
                self.incomplete += 1
                continue
            self.delivered += 1
            self.slot.put(frame, t_grab)

    def run(self) -> None:
        final = "stopped"
        try:
            source = self.source = self._open_source()
            self.opened.emit(source.info.label)
            if self._prepare is not None:
                for problem in self._prepare(source):
                    self.warned.emit(problem)
            if self.control is not None:
                self.control.attach(source)
            if source.state is not SourceState.RUNNING:
                source.start()
            self.stateChanged.emit("running")
            self._loop(source)
        except EndOfStream as exc:
            if self.source is not None and self.source.every_frame:  # the last frame gets inspected too
                while not self.stop_requested and not self.slot.wait_free(self.read_timeout_s):
                    pass
            self.ended.emit(str(exc))
        except CameraLost as exc:
            final = "lost"
            self.lost.emit(str(exc) or "camera lost")
        except AoiError as exc:
            self.error.emit(str(exc))
        except Exception as exc:  # noqa: BLE001 - a worker must report, never take the app down
            self.error.emit(f"acquisition failed: {type(exc).__name__}: {exc}")
        finally:
            if self.control is not None:
                self.control.detach()
            self._close()
            self.stateChanged.emit(final)
            self.finished.emit()

    def _close(self) -> None:
        src = self.source
        if src is None:
            return
        try:
            if src.state is SourceState.RUNNING:
                src.stop()
        except Exception:  # noqa: BLE001 - a lost device often fails to stop; closing still matters
            pass
        try:
            src.close()
        except Exception as exc:  # noqa: BLE001
            self.error.emit(f"could not close {src.info.label}: {exc}")
