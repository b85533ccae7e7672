"""Recorder: logs every result and stores NG images on a background thread, so inspection never waits
on the disk; a full or failing disk is reported (last_error, counters) but never stops inspection."""

from __future__ import annotations

import queue
import threading
from pathlib import Path

import numpy as np

from inspection_core.errors import AoiError
from inspection_core.records.log import InspectionLog
from inspection_core.records.store import NGImageStore
from inspection_core.types import InspectionResult


class Recorder:
    def __init__(
        self, directory: str | Path, save_ng_images: bool = True, min_free_mb: float = 500.0
    ) -> None:
        self.directory = Path(directory)
        self.log = InspectionLog(self.directory / "inspections.sqlite")
        self.store = NGImageStore(self.directory / "ng", min_free_mb) if save_ng_images else None
        self._queue: queue.Queue[tuple | None] = queue.Queue(maxsize=1000)
        self.written = 0
        self.images_saved = 0
        self.images_skipped = 0
        self.last_error: str | None = None
        self._thread = threading.Thread(target=self._run, name="aoi-recorder", daemon=True)
        self._thread.start()

    def submit(
        self, image: np.ndarray | None, result: InspectionResult, source: str = "", recipe: str = ""
    ) -> None:
        """Queue a result (the image is only kept for NG parts). Blocks only if 1000 writes are pending."""
        keep = image if (result.is_ng and self.store is not None) else None
        self._queue.put((keep, result, source, recipe))

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                image, result, source, recipe = item
                path = None
                if image is not None and self.store is not None:
                    try:
                        path = str(self.store.save(image, result, source, recipe))
                        self.images_saved += 1
                    except AoiError as exc:
                        self.images_skipped += 1
                        self.last_error = str(exc)
                try:
                    self.log.append(result, source, recipe, path)
                    self.written += 1
                except AoiError as exc:
                    self.last_error = str(exc)
            finally:
                self._queue.task_done()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued is written (True) or the timeout passes (False)."""
        done = threading.Event()

        def waiter() -> None:
            self._queue.join()
            done.set()

        threading.Thread(target=waiter, daemon=True).start()
        return done.wait(timeout)

    def close(self, timeout: float = 10.0) -> None:
        self.flush(timeout)
        self._queue.put(None)
        self._thread.join(timeout)
        self.log.close()
