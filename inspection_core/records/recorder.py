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
  oldest pending row was submitted, whichever comes first; rows already queued behind it join its batch
  (so a backlog is written `batch_rows` a commit, not one). Bound on loss: a killed process (kill -9,
  crash) loses only rows submitted less than `batch_interval_s` plus one commit before the kill,
  as long as the writer keeps up (tested with a killed child process: see tests/test_records_recorder.py);
  committed rows survive because the log is in WAL mode.
- A database error (corrupt file, locked, disk full, a deleted file, a PostgreSQL server gone or
  restarting) never ends the writer thread: the batch is held in memory (the newest `hold_rows`;
  older ones are dropped and counted in `lost`) and tried again with a later batch, or on its own
  when idle: `reopen_every_s` after the failure, the wait doubling (up to 30 s) while it fails.
  `errors` and `last_error` say why; the log is re-opened for each try. A database briefly gone or
  locked (waited for `lock_timeout_s` at most per try) thus loses nothing.
- Refused rows are also appended to a spool on the station's disk (`spool.sqlite` in `directory`,
  records/spool.py, fsynced) by the writer thread, and removed from it once the database has
  committed them; while the spool holds rows, new rows go behind them, so the order is kept. Rows
  still spooled at `close` or a kill are written first by the next Recorder on `directory`. A row is
  written once: spooled rows whose (station, time_ns, frame_id) is already in the database (the
  process died between the database's commit and the spool's cleanup) are skipped. Memory holds
  `hold_rows` at most (read from the spool in chunks); only rows the spool cannot take either (its
  disk under `spool_min_free_mb` free or unwritable, or the spool held by another recorder on the
  same folder) are held in memory as before, the rest counted in `lost`. A drained spool is deleted.
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
import sqlalchemy as sa

from inspection_core.errors import AoiError
from inspection_core.records.db import LOG_NAME as LOG_NAME  # re-exported: the file's name
from inspection_core.records.db import display_url, is_sqlite, records_url, sqlite_path
from inspection_core.records.log import COLUMNS, InspectionLog, RecordContext, make_row
from inspection_core.records.schema import inspections
from inspection_core.records.spool import SPOOL_MIN_FREE_MB, SPOOL_NAME, Spool, SpoolError, open_spool
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
        spool_min_free_mb: float = SPOOL_MIN_FREE_MB,
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
        # rows the database refused, on disk until it commits them; opened when first needed, so the
        # normal path writes no spool file
        self.spool_path = self.directory / SPOOL_NAME
        self.spool_min_free_mb = spool_min_free_mb
        self.spool, why_not = open_spool(self.spool_path, spool_min_free_mb)
        self._spool_next = 0.0  # after a spool write failed: when to try the spool again
        if why_not is not None:
            self.errors += 1
            self.last_error = why_not
            _log.error("%s", why_not)
        self._open()  # here, so a log that is fine is usable by the caller at once
        self._thread = threading.Thread(target=self._run, name="aoi-recorder", daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    @property
    def held(self) -> int:
        """Rows the database refused, waiting for it: in memory or spooled on disk."""
        return len(self._held) + self.spooled

    @property
    def spooled(self) -> int:
        """Rows waiting for the database in the spool on disk (kept across a kill or restart)."""
        return self.spool.count if self.spool is not None else 0

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

    def _to_spool(self, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """Append rows to the spool (opened on first use); returns those it could not take."""
        if not rows or time.monotonic() < self._spool_next:  # it failed moments ago: memory for now
            return rows
        try:
            if self.spool is None:
                self.spool = Spool(self.spool_path, self.spool_min_free_mb)
            self.spool.append(rows)
            return []
        except SpoolError as exc:  # disk (nearly) full, unwritable, held by another recorder: tried again
            # with the database's next retry
            if self.spool is not None and not self.spool.count:  # made just now, took nothing: not kept
                self.spool.discard()
                self.spool = None
            self._spool_next = time.monotonic() + max(self._retry_wait, self.reopen_every_s)
            self.errors += 1
            self.last_error = str(exc)
            return rows

    def _new_only(self, log: InspectionLog, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """The rows whose (station, time_ns, frame_id) the database does not have yet: a spooled row
        may have been committed just before a kill, before the spool forgot it."""
        ti, fi, si = COLUMNS.index("time_ns"), COLUMNS.index("frame_id"), COLUMNS.index("station")
        c = inspections.c
        q = sa.select(c.station, c.time_ns, c.frame_id).where(  # the (station, time_ns) index
            c.station.in_({r[si] for r in rows}),
            c.time_ns.between(min(r[ti] for r in rows), max(r[ti] for r in rows)),
        )
        with log.engine.connect() as con:
            have = {tuple(r) for r in con.execute(q)}
        return [r for r in rows if (r[si], r[ti], r[fi]) not in have]

    def _write(self, batch: list[tuple[Any, ...]]) -> None:
        rows = self._held + batch if self._held else batch
        self._held = []
        if not rows and not self._removed and not self.spooled:
            return
        if self.spooled or self._retry_wait:  # the database is away: new rows go to disk, behind the rest
            rows = self._to_spool(rows)
        if (self.spooled or rows) and time.monotonic() < self._next_retry:
            self._hold(rows)  # the database failed moments ago: no retry of every held row per batch
            return
        self._open()
        if self.log is None:
            self._fail(rows, None)
            return
        try:
            while self.spooled:  # the oldest first, `hold_rows` at a time (the memory bound)
                upto, chunk = self.spool.head(max(self.hold_rows, 100))  # type: ignore[union-attr]
                if not chunk:  # its count was out of step with the file: nothing left to replay
                    self.spool.count = 0  # type: ignore[union-attr]
                    break
                chunk = self._new_only(self.log, chunk)
                self.log.append_many(chunk, self._removed)
                self._removed = []
                self.written += len(chunk)
                self.spool.remove(upto)  # type: ignore[union-attr]
            if self.spool is not None and not self.spool.count:  # drained: no file left behind
                self.spool.discard()
                self.spool = None
            self.log.append_many(rows, self._removed)
            self._removed = []
            self._retry_wait = 0.0
            self.written += len(rows)
        except SpoolError as exc:  # the database has the rows, the spool cannot forget them: skipped later
            self._hold(rows)
            self._retry_later()
            self.errors += 1
            self.last_error = str(exc)
        except Exception as exc:  # noqa: BLE001 - database error, OSError…: count, re-open, go on
            self._fail(rows, exc)

    def _fail(self, rows: list[tuple[Any, ...]], exc: Exception | None) -> None:
        """The database refused `rows`: spool them (or hold them in memory), try again later."""
        self._retry_later()
        if exc is not None:
            self.errors += 1
            self.last_error = (
                str(exc)
                if isinstance(exc, AoiError)
                else f"cannot write the inspection log {self.path}: {exc!r}"
            )
            if self.log is not None:
                with contextlib.suppress(Exception):  # a broken connection may fail to close, too
                    self.log.close()
                self.log = None
        self._hold(self._to_spool(rows))

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
        deadline = started = 0.0
        while True:
            try:
                item = self._next(max(0.0, deadline - time.monotonic()) if batch else 0.5)
                if item is _STOP:
                    self._next_retry = 0.0  # one last try for rows held after an error
                    self._write(batch)
                    self._held = self._to_spool(self._held)  # kept for the next Recorder
                    self.lost += len(self._held)  # neither the database nor the spool took them
                    self._held = []
                    if self.log is not None:
                        self.log.close()  # this thread's connection
                    if self.spool is not None:
                        self.spool.close()
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
                        started = time.monotonic()
                    batch.append(self._row(item))
                # due: a full batch; or the oldest row's interval is over and nothing else is queued (a
                # backlog behind it joins this batch: a commit per row would slow the writer exactly when
                # it is behind); or the batch has been filling for an interval (slow rows: NG images)
                now = time.monotonic()
                if batch and (
                    len(batch) >= self.batch_rows
                    or (now >= deadline and not self._queue)
                    or now >= started + self.batch_interval_s
                ):
                    self._write(batch)
                    batch = []
                elif not batch and self.held and time.monotonic() >= self._next_retry:
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
            "spooled": self.spooled,
            "errors": self.errors,
            "images_saved": self.images_saved,
            "images_skipped": self.images_skipped,
            "images_paused": self.images_paused,
            "last_error": self.last_error,
        }


_EMPTY = np.zeros((0, 0), np.float32)
_EMPTY_MASK = np.zeros((0, 0), bool)
