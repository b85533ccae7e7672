"""The live station's inspection records: every result the inference worker produces goes to a
`Recorder` in `<station home>/records`.

Used only from the inference thread (never the GUI thread): `submit` is a few microseconds and never
blocks, so a slow or broken disk cannot slow inspection; it only shows in the recorder's counters.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from app import paths
from app.recording_settings import RecordingSettings, load_settings
from inspection_core.errors import AoiError
from inspection_core.inspector import Inspector
from inspection_core.records import RecordContext, Recorder
from inspection_core.records.log import model_hash
from inspection_core.types import Frame, InspectionResult


def records_dir() -> Path:
    return paths.station_home() / "records"


class StationRecording:
    """A Recorder plus what a row needs beyond the result: the source, recipe and thresholds in force.

    `recipe_of` returns the window's current recipe (an object with `name` and `version`) or None; it
    is read once per inspector change, so a deploy shows up in the rows from its first frame.
    `settings`: image quota, free-space guard and OK sampling (default: the station home's saved ones).
    """

    def __init__(
        self,
        source: str = "",
        recipe_of: Callable[[], Any] | None = None,
        directory: Path | None = None,
        settings: RecordingSettings | None = None,
    ) -> None:
        self.source = source
        self.recipe_of = recipe_of or (lambda: None)
        s = settings or load_settings()
        self.recorder = Recorder(
            directory or records_dir(),
            quota_mb=s.quota_mb,
            min_free_mb=s.min_free_mb,
            ok_image_every=s.ok_image_every,
        )
        self._for: tuple[Any, ...] | None = None
        self._seen: tuple[int, int, str | None] = (0, 0, None)

    def _context(self, inspector: Inspector, frame: Frame | None = None) -> RecordContext:
        """Rebuilt when the inspector, its backend, the recipe or the camera (its serial, from the frame)
        changes; the model's content hash is computed once per model folder (`records.log.model_hash`).
        The backend is in the key as well as the inspector: a swap (Station settings) that put another
        bundle into the same Inspector would otherwise keep recording the old runtime."""
        recipe = self.recipe_of()
        serial = str(frame.meta.get("camera_serial") or "") if frame is not None else ""
        backend = str(getattr(inspector, "backend", "") or "")
        key = (inspector, backend, recipe, serial)
        if self._for != key:
            s = inspector.settings
            self.recorder.set_context(
                RecordContext(
                    source=self.source,
                    camera_serial=serial,
                    recipe=getattr(recipe, "name", "") or "",
                    recipe_version=getattr(recipe, "version", None),
                    model_hash=model_hash(getattr(inspector, "bundle", None)),
                    backend=backend,
                    image_threshold=float(s.image_threshold),
                    pixel_threshold=float(s.pixel_threshold),
                )
            )
            self._for = key
        return self.recorder.context

    def record(self, frame: Frame, result: InspectionResult, inspector: Inspector) -> bool:
        """Queue one result (False: the recorder's queue was full and the row was dropped)."""
        return self.recorder.submit(frame.image, result, context=self._context(inspector, frame))

    def problem(self) -> str | None:
        """A line for the operator when rows were dropped or lost, or the recorder hit a new error since
        the last call; None when all is well (cheap: counters only, no database access)."""
        r = self.recorder
        now = (r.dropped, r.lost, r.last_error)
        if now == self._seen:
            return None
        self._seen = now
        if not (r.dropped or r.lost or r.last_error):
            return None
        spooled = r.spooled
        in_memory = r.held - spooled
        return (
            f"inspection records: {r.dropped + r.lost} not recorded ({r.dropped} dropped by a full queue, "
            f"{r.lost} refused by the database), {spooled} spooled to disk ({r.spool_path}) and "
            f"{in_memory} in memory while the database is away; "
            f"last error: {r.last_error or 'none'}"
        )

    def close(self) -> None:
        """Commit what is queued and end the recorder thread."""
        self.recorder.close()


def open_recording(source: str, recipe_of: Callable[[], Any] | None) -> tuple[StationRecording | None, str]:
    """(recording, "") or (None, why not): a station home that cannot hold records must not stop
    inspection, only say so once."""
    try:
        rec = StationRecording(source, recipe_of)
    except (AoiError, OSError) as exc:
        return None, f"inspections are not being recorded: {exc}"
    if rec.recorder.log is None:  # kept: it writes again once the file is repaired or removed
        return rec, f"inspections are not being recorded: {rec.recorder.last_error}"
    return rec, ""


class ImageSavingWatch:
    """Whether stored images are paused, from a Recorder's public counters (polled on the GUI thread,
    about once a second): paused while free disk is under the guard, or while images are skipped and
    none saved; resumed once an image is saved again (or space is back, when low space was why)."""

    def __init__(self) -> None:
        self.paused = False
        self.reason = ""
        self._low = False
        self._recorder: Any = None
        self._seen = (0, 0)

    def update(self, recorder: Recorder | None) -> bool:
        """True when `paused` changed."""
        before = self.paused
        if recorder is None:
            return False
        if recorder is not self._recorder:
            self._recorder, self._seen = recorder, (0, 0)
        saved, skipped = recorder.images_saved, recorder.images_skipped
        d_saved, d_skipped = saved - self._seen[0], skipped - self._seen[1]
        self._seen = (saved, skipped)
        store = recorder.store
        free = store.free_mb() if store is not None else None
        low = store is not None and free is not None and free < store.min_free_mb
        if low:
            self.paused = True
            self.reason = (
                f"only {free:.0f} MB free under {store.root} (keep-free guard {store.min_free_mb:.0f} MB)"
            )
        elif self._low or d_saved > 0:  # space is back (the skips were for lack of it), or saving works
            self.paused = False
            self.reason = ""
        elif d_skipped > 0:
            self.paused = True
            self.reason = recorder.last_error or "the image store cannot write"
        self._low = low
        return self.paused != before
