"""Run a blocking worker loop in its own QThread and stop it deterministically.

Workers are QObjects with `run()` (a loop that checks `stop_requested`) and a `finished` signal;
`WorkerThread.stop()` asks, then waits, so no QThread outlives the window that started it.
"""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, Qt, QThread, Signal


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
        """Ask the loop to end and wait for the thread; False if it did not end in time."""
        self.worker.request_stop()
        if not self.thread.isRunning():
            return True
        ok = self.thread.wait(timeout_ms)
        if not ok:  # a blocked driver call: quit() at least ends the event loop once run() returns
            self.thread.quit()
        return bool(ok)
