"""One background thread for every read of the inspection records the GUI makes (pages, counts,
thumbnails, a record's images, CSV exports), so a big query never blocks the GUI thread.

Jobs are plain callables run one after another on the thread "records-query"; each result comes
back to the GUI thread through a queued signal with the job's token, so a widget can ignore answers
to questions it no longer asks. Each job makes its own read-only `RecordsReader`, but all of them
read through one kept engine per store (`records.db.read_engine`): the Records panel re-reads its
page every few seconds, and a new connection per read would mean a login and a backend process on a
plant PostgreSQL server each time. `RecordsQuery.shutdown` closes those kept connections.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from functools import partial
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from inspection_core.errors import AoiError
from inspection_core.records.db import dispose_read_engines
from inspection_core.records.query import RecordsReader


@contextmanager
def reader(directory: Path) -> Iterator[RecordsReader]:
    """A reader on the kept engine of the store `directory` (or $AOI_RECORDS_URL) names."""
    r = RecordsReader(directory, shared=True)
    try:
        yield r
    finally:
        r.close()


def _end(thread: QThread, *_: object) -> None:
    with suppress(RuntimeError):  # already deleted (interpreter exit): nothing runs any more
        if thread.isRunning():
            thread.quit()
            thread.wait()


class _Runner(QObject):
    done = Signal(int, object)
    failed = Signal(int, str)

    @Slot(int, object)
    def run(self, token: int, fn: Callable[[], Any]) -> None:
        try:
            result = fn()
        except AoiError as exc:
            self.failed.emit(token, str(exc))
        except Exception as exc:  # noqa: BLE001 - a bad file or row is reported, the thread goes on
            self.failed.emit(token, f"{type(exc).__name__}: {exc}")
        else:
            self.done.emit(token, result)


class RecordsQuery(QObject):
    """`submit(fn, on_done, on_error)` → token. Callbacks run on the GUI thread; `shutdown()` waits
    for the job in flight and ends the thread (idempotent; also when this object is destroyed). The
    thread starts with the first job."""

    _request = Signal(int, object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._tokens = itertools.count(1)
        self._callbacks: dict[int, tuple[Callable[[Any], None], Callable[[str], None] | None]] = {}
        self._thread = QThread()
        self._thread.setObjectName("records-query")
        self._runner = _Runner()
        self._runner.moveToThread(self._thread)
        self._request.connect(self._runner.run)
        self._runner.done.connect(self._done)
        self._runner.failed.connect(self._failed)
        self.pending = 0
        # a safety net: a RecordsQuery deleted with its parent (e.g. a window whose constructor
        # failed) must not leave a running QThread behind to be destroyed (that aborts the process)
        self.destroyed.connect(partial(_end, self._thread))

    def submit(
        self,
        fn: Callable[[], Any],
        on_done: Callable[[Any], None],
        on_error: Callable[[str], None] | None = None,
    ) -> int:
        token = next(self._tokens)
        self._callbacks[token] = (on_done, on_error)
        self.pending += 1
        if not self._thread.isRunning():  # started by the first job, not at construction
            self._thread.start()
        self._request.emit(token, fn)
        return token

    def _done(self, token: int, result: object) -> None:
        self.pending -= 1
        cb = self._callbacks.pop(token, None)
        if cb is not None:
            cb[0](result)

    def _failed(self, token: int, message: str) -> None:
        self.pending -= 1
        cb = self._callbacks.pop(token, None)
        if cb is not None and cb[1] is not None:
            cb[1](message)

    def shutdown(self) -> None:
        """Finish the job in flight, drop the queued ones' callbacks, end the thread, close the kept
        read connections (the next read, by anyone, opens them again)."""
        self._callbacks.clear()
        if self._thread.isRunning():
            self._thread.quit()
            self._thread.wait()
        dispose_read_engines()
