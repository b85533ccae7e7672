"""Run one long core call (validation, training) in a QThread with progress, ETA and cancel.

The callable receives a FitContext whose `report` emits `progress` here and raises CancelledError
once `request_stop()` was called, so cancelling needs no cooperation beyond the core's own reports.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from PySide6.QtCore import Signal

from app.workers.threads import LoopWorker, WorkerThread
from inspection_core.errors import AoiError, CancelledError
from inspection_core.runtime.context import FitContext, ProgressEvent


class TaskWorker(LoopWorker):
    progress = Signal(object)  # ProgressEvent
    done = Signal(object)  # whatever the callable returned
    cancelled = Signal()

    def __init__(self, fn: Callable[[FitContext], Any], device: torch.device | None = None) -> None:
        super().__init__()
        self._fn = fn
        self.ctx = FitContext(device=device or torch.device("cpu"), progress=self.progress.emit)

    def request_stop(self) -> None:
        super().request_stop()
        self.ctx.cancel.cancel()

    def run(self) -> None:
        try:
            result = self._fn(self.ctx)
        except CancelledError:
            self.cancelled.emit()
        except AoiError as exc:
            self.error.emit(str(exc))
        except Exception as exc:  # noqa: BLE001 - a worker reports, it never takes the app down
            self.error.emit(f"{type(exc).__name__}: {exc}")
        else:
            self.done.emit(result)
        finally:
            self.finished.emit()


def make_task(fn: Callable[[FitContext], Any], name: str, device: torch.device | None = None) -> WorkerThread:
    """A WorkerThread (not started yet) running `fn`: connect to `.worker` signals, then `.start()`."""
    return WorkerThread(TaskWorker(fn, device), name)


def eta_text(ev: ProgressEvent) -> str:
    eta = ev.eta_s
    if eta is None:
        return ""
    return f"ETA {eta:.0f} s" if eta < 120 else f"ETA {eta / 60:.1f} min"
