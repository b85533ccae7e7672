"""Feature access to a source that another thread is reading: calls are queued, run between reads.

Harvesters and most vendor SDKs do not promise that a node write (or a layout change, which stops
and restarts the stream) is safe while another thread is inside `fetch`. So the panel never touches
the source: it submits a call here and gets a `Future`; the acquisition thread runs the pending
calls between two reads (`run_pending`). Qt-free: the app turns futures into queued signals.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from inspection_core.camera.base import FrameSource
from inspection_core.errors import CameraError

T = TypeVar("T")
NOT_OPEN = "the camera is not open: start it to see and change its features"


class SourceControl:
    """The hand-over point between the thread that owns a source and everyone else."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[tuple[Callable[[FrameSource], Any], Future[Any]]] = queue.SimpleQueue()
        self._source: FrameSource | None = None
        self.generation = 0  # bumped at every attach: a panel knows its snapshot is of an old source

    @property
    def source(self) -> FrameSource | None:
        with self._lock:
            return self._source

    def attach(self, source: FrameSource) -> None:
        """Called by the owning thread once the source is open."""
        with self._lock:
            self._source = source
            self.generation += 1

    def detach(self) -> None:
        """Called by the owning thread before it closes the source; pending calls fail with NOT_OPEN."""
        with self._lock:
            self._source = None
        self._fail_pending()

    def submit(self, fn: Callable[[FrameSource], T]) -> Future[T]:
        """Run `fn(source)` on the owning thread; the Future fails at once when no source is open."""
        fut: Future[T] = Future()
        with self._lock:
            attached = self._source is not None
            if attached:
                self._queue.put((fn, fut))
        if not attached:
            fut.set_exception(CameraError(NOT_OPEN))
        return fut

    def run_pending(self) -> int:
        """Run every queued call (owning thread only); returns how many ran."""
        source = self.source
        n = 0
        while True:
            try:
                fn, fut = self._queue.get_nowait()
            except queue.Empty:
                return n
            n += 1
            if not fut.set_running_or_notify_cancel():
                continue
            if source is None:
                fut.set_exception(CameraError(NOT_OPEN))
                continue
            try:
                fut.set_result(fn(source))
            except Exception as exc:  # noqa: BLE001 - handed to the caller, never kills the reader
                fut.set_exception(exc)

    def _fail_pending(self) -> None:
        while True:
            try:
                _fn, fut = self._queue.get_nowait()
            except queue.Empty:
                return
            if fut.set_running_or_notify_cancel():
                fut.set_exception(CameraError(NOT_OPEN))
