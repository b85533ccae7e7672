"""Run a blocking worker loop in its own QThread and stop it deterministically.

Workers are QObjects with `run()` (a loop that checks `stop_requested`) and a `finished` signal;
`WorkerThread.stop_and_wait()` asks, then waits for as long as the work in flight takes, so no
QThread is ever destroyed while running (that aborts the process) or outlives its window.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from PySide6.QtCore import QCoreApplication, QEventLoop, QObject, Qt, QThread, Signal


class LoopWorker(QObject):
    """Base of the app's workers: a stop flag and the two signals every worker has."""

    finished = Signal()
    error = Signal(str)

    def __init__(self) -> None:
        super().__init__()
        self._stop = threading.Event()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def request_stop(self) -> None:
        self._stop.set()

    def run(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


class WorkerThread:
    """Owns one QThread running one LoopWorker."""

    def __init__(self, worker: LoopWorker, name: str) -> None:
        self.worker = worker
        self.thread = QThread()
        self.thread.setObjectName(name)
        worker.moveToThread(self.thread)
        self.thread.started.connect(worker.run)
        # direct: quit() is thread-safe, and a queued call would wait for the GUI thread that is
        # itself blocked in stop() → wait()
        worker.finished.connect(self.thread.quit, Qt.ConnectionType.DirectConnection)

    def start(self) -> None:
        self.thread.start()

    def is_running(self) -> bool:
        return self.thread.isRunning()

    def stop(self, timeout_ms: int = 10_000) -> bool:
        """Ask the loop to end and wait up to `timeout_ms`; False if it is still running.

        A False here is not permission to drop this object: a QThread destroyed while running aborts
        the process. Use `stop_and_wait` where the thread must be gone afterwards.
        """
        self.worker.request_stop()
        if not self.thread.isRunning():
            return True
        return bool(self.thread.wait(timeout_ms))

    def stop_and_wait(
        self, patience_ms: int = 10_000, on_slow: Callable[[], None] | None = None, poll_ms: int = 50
    ) -> bool:
        """Ask the loop to end and wait until the thread has ended; never gives up on a running thread.

        The work in flight (a slow frame, a driver call with its timeout) always ends; after `patience_ms`
        `on_slow()` tells the operator why the window waits, and the wait goes on with the GUI still
        repainting (user input is held back, so nothing can start or stop meanwhile). Returns whether
        it ended within the patience.
        """
        if self.stop(patience_ms):
            return True
        if on_slow is not None:
            on_slow()
        flags = QEventLoop.ProcessEventsFlag.ExcludeUserInputEvents
        while not self.thread.wait(poll_ms):
            QCoreApplication.processEvents(flags, poll_ms)
        return False
