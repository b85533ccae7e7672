"""Recorder: logs every result and stores NG images on a background thread, so inspection never waits
on the disk, and a failing disk or database never stops inspection.

- Images: every NG part's (raw + overlay + JSON) and every `ok_image_every`-th OK part's go to the
  image store under `images/`, kept within `quota_mb` by deleting the oldest first; a row whose image
  retention deleted loses its path and says so in `note`, so the log never points at missing files.
- `submit()` never blocks: it appends what the row needs (no anomaly map) to a bounded queue that
  the writer polls (no lock, no thread wake-up); a full queue drops the row and counts it (`dropped`). NG images ride along only while
  fewer than `max_pending_images` wait (the memory bound); beyond that the row is kept, its image
  skipped (`images_skipped`).
- Rows are committed in batches: as soon as `batch_rows` are pending, or `batch_interval_s` after the
  oldest pending row was submitted, whichever comes first. Bound on loss: a killed process (kill -9,
  crash) loses only rows submitted less than `batch_interval_s` plus one commit before the kill,
  as long as the writer keeps up (tested with a killed child process: see tests/test_records_recorder.py);
  committed rows survive because the log is in WAL mode.
- A database error (corrupt file, locked, disk full, a deleted file, a PostgreSQL server gone or
  restarting) never ends the writer thread: the batch is held in memory (the newest `hold_rows`;
  older ones are dropped and counted in `lost`) and tried again with a later batch, or on its own
  when idle: `reopen_every_s` after the failure, the wait doubling (up to 30 s) while it fails.
  `errors` and `last_error` say why; the log is re-opened for each try. A database briefly gone or
  locked (waited for `lock_timeout_s` at most per try) thus loses nothing; rows still held at
  `close` (or a kill) are lost.
- A full disk (under the store's free-space guard) pauses image saving (`images_paused` says why,
  logged once; resumed and logged when an image is saved again); the rows go on being written.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from inspection_core.errors import AoiError
from inspection_core.records.db import LOG_NAME as LOG_NAME  # re-exported: the file's name
from inspection_core.records.db import display_url, is_sqlite, records_url, sqlite_path
from inspection_core.records.log import InspectionLog, RecordContext, make_row
from inspection_core.records.store import DiskFullError, NGImageStore
from inspection_core.types import InspectionResult

_log = logging.getLogger(__name__)
MAX_RETRY_S = 30.0  # the longest wait between two tries of held rows
POLL_S = 0.02  # how often an idle writer looks for new rows


@dataclass(frozen=True)
class _Item:
    """One queued result, without its anomaly map unless its NG image is to be saved."""

    t_ns: int
    t_mono: float
    result: InspectionResult
    context: RecordContext
    image: np.ndarray | None


class _Flush:
    def __init__(self) -> None:
        self.done = threading.Event()


_STOP = object()


class Recorder:
    """Background writer of the inspection log (and the NG image store) under `directory`.

    The log is `directory`/inspections.sqlite unless `url` (or $AOI_RECORDS_URL) names another
    database, e.g. the plant's PostgreSQL; images always stay under `directory`/images.
    """

    def __init__(
        self,
        directory: str | Path,
        save_ng_images: bool = True,
        min_free_mb: float = 500.0,
        quota_mb: float | None = None,
        ok_image_every: int = 0,
        queue_size: int = 10_000,
        batch_rows: int = 100,
        batch_interval_s: float = 0.5,
        max_pending_images: int = 8,
        reopen_every_s: float = 2.0,
        hold_rows: int = 10_000,
        lock_timeout_s: float = 5.0,
        context: RecordContext | None = None,
        url: str | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.url = records_url(self.directory, url)
        self.path: Path | str = sqlite_path(self.url) if is_sqlite(self.url) else display_url(self.url)
        self.batch_rows = batch_rows
        self.batch_interval_s = batch_interval_s
        self.max_pending_images = max_pending_images
        self.reopen_every_s = reopen_every_s
        self.hold_rows = hold_rows
        self._held: list[tuple[Any, ...]] = []  # rows the database refused, written with the next batch
        self._next_retry = 0.0
        self._retry_wait = 0.0
        self.lock_timeout_s = lock_timeout_s
        self.context = context or RecordContext()
        self.ok_image_every = ok_image_every
        self._ok_seen = 0
        self._removed: list[str] = []  # image paths retention deleted, marked in the log at the next write
        self.store = (
            NGImageStore(self.directory / "images", min_free_mb, quota_mb)
            if (save_ng_images or ok_image_every)
            else None
        )
        self.save_ng_images = save_ng_images
        self.queue_size = queue_size
        self._queue: deque[Any] = deque()  # append/popleft are atomic: no lock, no wake-up per row
        self._wake = threading.Event()  # flush and close wake the writer at once; rows wait for its poll
        self._pending_images = 0
        self._img_lock = threading.Lock()
        self.submitted = 0
        self.written = 0  # rows committed
        self.dropped = 0  # rows refused by a full queue
        self.lost = 0  # rows the database refused beyond `hold_rows` held for a retry (or at close)
        self.errors = 0  # database errors (each one batch)
        self.images_saved = 0
        self.images_skipped = 0
        # why image saving is paused (disk under the free-space guard, store not writable), None while
        # images are saved: the station shows it (a banner); rows of verdicts go on being written
        self.images_paused: str | None = None
        self.last_error: str | None = None
        self._next_open = 0.0
        self.log: InspectionLog | None = None
        self._open()  # here, so a log that is fine is usable by the caller at once
        self._thread = threading.Thread(target=self._run, name="aoi-recorder", daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    @property
    def held(self) -> int:
        """Rows the database refused, kept in memory for the next try (see the module docstring)."""
        return len(self._held)

    def set_context(self, context: RecordContext) -> None:
        """What the next submitted results are recorded with (recipe, thresholds, source)."""
        self.context = context

    # --- caller side (never blocks) -----------------------------------------------------------------
    def submit(
        self,
        image: np.ndarray | None,
        result: InspectionResult,
        source: str | None = None,
        recipe: str | None = None,
        context: RecordContext | None = None,
    ) -> bool:
        """Queue a result; False when the queue is full (the row is dropped and counted)."""
        ctx = context or self.context
        if source is not None or recipe is not None:
            ctx = replace(
                ctx,
                source=ctx.source if source is None else source,
                recipe=ctx.recipe if recipe is None else recipe,
            )
        keep = None
        wanted = result.is_ng and self.save_ng_images
        if not result.is_ng and self.ok_image_every:
            wanted = self._ok_seen % self.ok_image_every == 0
            self._ok_seen += 1
        if image is not None and self.store is not None and wanted:
            with self._img_lock:
                if self._pending_images < self.max_pending_images:
                    self._pending_images += 1
                    keep = image
                else:
                    self.images_skipped += 1
        if keep is None and result.anomaly_map.size:  # drop the arrays: the queue holds only small rows
            result = replace(result, anomaly_map=_EMPTY, mask=_EMPTY_MASK)
        self.submitted += 1
        if len(self._queue) >= self.queue_size:
            self.dropped += 1
            if keep is not None:
                self._release_image()
            return False
        self._queue.append(_Item(time.time_ns(), time.monotonic(), result, ctx, keep))
        return True

    def _release_image(self) -> None:
        with self._img_lock:
            self._pending_images -= 1

    # --- writer thread ------------------------------------------------------------------------------
    def _open(self) -> None:
        if self.log is not None or time.monotonic() < self._next_open:
            return
        self._next_open = time.monotonic() + self.reopen_every_s
        try:
            self.log = InspectionLog(lock_timeout_s=self.lock_timeout_s, url=self.url)
        except (AoiError, OSError) as exc:
            self.errors += 1
            self.last_error = str(exc)

    def _retry_later(self) -> None:
        """When held rows are tried next: `reopen_every_s` after the first failure, doubling up to
        MAX_RETRY_S while the database keeps failing (each try writes every held row)."""
        self._retry_wait = min(max(self._retry_wait * 2, self.reopen_every_s), MAX_RETRY_S)
        self._next_retry = time.monotonic() + self._retry_wait

    def _hold(self, rows: list[tuple[Any, ...]]) -> None:
        """Keep rows the database refused for the next write, the newest `hold_rows` at most; the
        rest are lost (counted)."""
        keep = rows[-self.hold_rows :] if self.hold_rows > 0 else []
        self.lost += len(rows) - len(keep)
        self._held = keep

    def _write(self, batch: list[tuple[Any, ...]]) -> None:
        rows = self._held + batch if self._held else batch
        if not rows and not self._removed:
            return
        if self._held and time.monotonic() < self._next_retry:
            self._hold(rows)  # the database failed moments ago: no retry of every held row per batch
            return
        self._open()
        if self.log is None:
            self._hold(rows)
            self._retry_later()
            return
        try:
            self.log.append_many(rows, self._removed)
            self._removed = []
            self._held = []
            self._retry_wait = 0.0
            self.written += len(rows)
        except Exception as exc:  # noqa: BLE001 - database error, OSError…: count, re-open, go on
            self._hold(rows)
            self._retry_later()
            self.errors += 1
            self.last_error = (
                str(exc)
                if isinstance(exc, AoiError)
                else f"cannot write the inspection log {self.path}: {exc!r}"
            )
            with contextlib.suppress(Exception):  # a broken connection may fail to close, too
                self.log.close()
            self.log = None

    def _row(self, item: _Item) -> tuple[Any, ...]:
        path = None
        if item.image is not None and self.store is not None:
            try:
                path = str(self.store.save(item.image, item.result, item.context.source, item.context.recipe))
                self.images_saved += 1
                if self.images_paused is not None:
                    _log.warning("image saving resumed under %s", self.store.root)
                    self.images_paused = None
                self._removed += [str(p) for p in self.store.enforce_quota()]
            except DiskFullError as exc:  # low space or an unwritable store: pause images, keep the row
                self.images_skipped += 1
                self.last_error = str(exc)
                if self.images_paused is None:
                    _log.warning("image saving paused (inspection and its records go on): %s", exc)
                self.images_paused = str(exc)
            except Exception as exc:  # noqa: BLE001 - a bad image: keep the row
                self.images_skipped += 1
                self.last_error = str(exc) if isinstance(exc, AoiError) else f"NG image not saved: {exc!r}"
            finally:
                self._release_image()
        return make_row(item.result, item.context, item.t_ns, path)

    def _run(self) -> None:
        batch: list[tuple[Any, ...]] = []
        deadline = 0.0
        while True:
            try:
                item = self._next(max(0.0, deadline - time.monotonic()) if batch else 0.5)
                if item is _STOP:
                    self._next_retry = 0.0  # one last try for rows held after an error
                    self._write(batch)
                    self.lost += len(self._held)  # the database never took them: lost at close
                    self._held = []
                    if self.log is not None:
                        self.log.close()  # this thread's connection
                    return
                if isinstance(item, _Flush):
                    self._next_retry = 0.0  # a flush tries held rows again, too
                    self._write(batch)
                    batch = []
                    item.done.set()
                    continue
                if isinstance(item, _Item):
                    if not batch:
                        deadline = item.t_mono + self.batch_interval_s
                    batch.append(self._row(item))
                if batch and (len(batch) >= self.batch_rows or time.monotonic() >= deadline):
                    self._write(batch)
                    batch = []
                elif not batch and self._held and time.monotonic() >= self._next_retry:
                    self._write([])  # idle with rows the database refused: try them again
                elif not batch and self.log is None:
                    self._open()  # idle with a broken log: try again, so the next row can be written
            except Exception as exc:  # noqa: BLE001 - the writer must outlive any one bad row
                self.errors += 1
                self.lost += len(batch)
                batch = []
                self.last_error = f"recorder: {type(exc).__name__}: {exc}"

    def _next(self, timeout: float) -> Any:
        """The oldest queued item, or None when nothing came within `timeout` s. Rows are picked up by
        polling every POLL_S (a wake-up per row would cost the submitting thread ~0.1 ms on a VM)."""
        end = time.monotonic() + timeout
        while True:
            try:
                return self._queue.popleft()
            except IndexError:
                pass
            left = end - time.monotonic()
            if left <= 0:
                return None
            if self._wake.wait(min(left, POLL_S)):
                self._wake.clear()

    def flush(self, timeout: float = 10.0) -> bool:
        """Write everything submitted so far, held rows tried once more: True once done (what the
        database refused is then held or lost: `stats()`), False after `timeout`."""
        marker = _Flush()
        self._queue.append(marker)
        self._wake.set()
        return marker.done.wait(timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Commit what is queued and end the writer thread (idempotent)."""
        if self._thread.is_alive():
            self._queue.append(_STOP)
            self._wake.set()
            self._thread.join(timeout)
        if self.log is not None:
            self.log.close()

    def stats(self) -> dict[str, Any]:
        """Counters for a status line: what was written, dropped, lost, and the last error."""
        return {
            "submitted": self.submitted,
            "written": self.written,
            "queued": len(self._queue),
            "dropped": self.dropped,
            "lost": self.lost,
            "held": self.held,
            "errors": self.errors,
            "images_saved": self.images_saved,
            "images_skipped": self.images_skipped,
            "images_paused": self.images_paused,
            "last_error": self.last_error,
        }


_EMPTY = np.zeros((0, 0), np.float32)
_EMPTY_MASK = np.zeros((0, 0), bool)
