"""Demo-model fit in a worker thread: grab good frames, fit, calibrate, cache to disk."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal

from app.demo import DEMO_FRAMES, fit_on_frames, grab_frames
from app.workers.threads import LoopWorker
from inspection_core.camera.base import FrameSource
from inspection_core.errors import AoiError, CancelledError
from inspection_core.runtime.context import FitContext, ProgressEvent


class DemoFitWorker(LoopWorker):
    """`open_source()` must return an opened source of good frames (the simulated web, defect rate 0)."""

    progress = Signal(str, int, int)  # stage, step, total
    done = Signal(object)  # ModelBundle

    def __init__(
        self,
        open_source: Callable[[], FrameSource],
        save_dir: Path | None,
        n_frames: int = DEMO_FRAMES,
        fit_kw: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self._open_source = open_source
        self._save_dir = save_dir
        self._n_frames = n_frames
        self._fit_kw = fit_kw or {}
        self._ctx = FitContext(progress=self._on_progress)

    def request_stop(self) -> None:
        super().request_stop()
        self._ctx.cancel.cancel()

    def _on_progress(self, ev: ProgressEvent) -> None:
        self.progress.emit(ev.stage, ev.step, ev.total)

    def run(self) -> None:
        try:
            source = self._open_source()
            try:
                source.start()
                frames = grab_frames(source, self._n_frames, self._ctx)
                source.stop()
            finally:
                source.close()
            bundle = fit_on_frames(frames, self._ctx, **self._fit_kw)
            if self._save_dir is not None:
                bundle.save(self._save_dir)
            self.done.emit(bundle)
        except CancelledError:
            pass
        except AoiError as exc:
            self.error.emit(f"demo model: {exc}")
        except Exception as exc:  # noqa: BLE001 - reported in the notification area
            self.error.emit(f"demo model fit failed: {type(exc).__name__}: {exc}")
        finally:
            self.finished.emit()
