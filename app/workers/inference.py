"""Inference thread: always the newest frame, one Inspector at a time, display data prepared here."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Signal

from app.display_data import prepare
from app.raw_frame import prepare_raw
from app.recording import StationRecording, open_recording
from app.workers.latest import LatestFrameSlot
from app.workers.threads import LoopWorker
from inspection_core.errors import AoiError
from inspection_core.inspector import Inspector
from inspection_core.records import RecordContext
from inspection_core.sinks import SinkHub


class InferenceWorker(LoopWorker):
    """Takes frames from the slot, inspects them and emits `resultReady(InspectedFrame)`.

    `set_inspector` may be called from any thread; the swap happens between two frames, so no frame
    is ever inspected half by the old and half by the new model. A model new to this worker on a device
    in `warm_devices` is warmed up first (`Inspector.warm_up`), announced on `status`: its one-time
    GPU preparation then does not fall on a live frame.

    With `record` every result is also handed to the station's recorder (`app.recording`), opened on
    this thread when the run starts and committed when it ends; `source` and `recipe_of` (the window's
    current recipe, or None) go into each row.

    With `sinks` every result is handed to the line (MQTT, OPC UA, folder, webhook, camera output):
    `SinkHub.submit` only queues (a few µs); the hub outlives the run and is closed by its owner.
    """

    resultReady = Signal(object)
    rawReady = Signal(object)  # app.raw_frame.RawFrame: a frame shown uninspected while no model is loaded
    status = Signal(str)

    def __init__(
        self,
        slot: LatestFrameSlot,
        inspector: Inspector | None = None,
        error_every_s: float = 5.0,
        warm_devices: tuple[str, ...] = ("cuda",),
        record: bool = True,
        source: str = "",
        recipe_of: Callable[[], Any] | None = None,
        sinks: SinkHub | None = None,
    ) -> None:
        super().__init__()
        self.slot = slot
        self._inspector = inspector
        self._warm_devices = warm_devices
        self._warmed: object | None = None  # the bundle last warmed up (ROI changes keep the bundle)
        self._lock = threading.Lock()
        self._error_every_s = error_every_s
        self._last_error: dict[str, float] = {}
        self.inspected = 0
        self._record = record
        self._source = source
        self._recipe_of = recipe_of
        self.recording: StationRecording | None = None
        self.sinks = sinks if sinks is not None and len(sinks) else None
        self._sink_ctx: tuple[Any, RecordContext] | None = None

    def set_inspector(self, inspector: Inspector | None) -> None:
        with self._lock:
            self._inspector = inspector

    @property
    def inspector(self) -> Inspector | None:
        with self._lock:
            return self._inspector

    def _report(self, message: str) -> None:
        """Emit an error at most once per `error_every_s` per message: a broken model must not flood."""
        now = time.monotonic()
        if now - self._last_error.get(message, -1e9) >= self._error_every_s:
            self._last_error[message] = now
            self.error.emit(message)

    def _warm_up(self, inspector: Inspector | None) -> None:
        """Warm a model up once, before its first live frame (CPU models have nothing to prepare)."""
        if inspector is None or inspector.bundle is self._warmed:
            return
        self._warmed = inspector.bundle
        if inspector.device.type not in self._warm_devices:
            return
        self.status.emit(f"preparing {inspector.bundle.name} on {inspector.device.type}…")
        try:
            seconds = inspector.warm_up()
        except Exception as exc:  # noqa: BLE001 - the live frames will report a real failure
            self._report(f"model warm-up failed: {type(exc).__name__}: {exc}")
            return
        self.status.emit(f"{inspector.bundle.name} ready ({seconds:.1f} s to prepare)")

    def _context(self, inspector: Inspector) -> RecordContext:
        """What a sink's message says beyond the result: the recorder's context when recording (the
        same recipe and thresholds as the row), else one built here once per inspector/recipe."""
        if self.recording is not None:
            return self.recording.recorder.context
        recipe = self._recipe_of() if self._recipe_of is not None else None
        backend = str(getattr(inspector, "backend", "") or "")  # a swap may reuse the Inspector object
        key = (inspector, backend, recipe)
        if self._sink_ctx is None or self._sink_ctx[0] != key:
            s = inspector.settings
            ctx = RecordContext(
                source=self._source,
                recipe=getattr(recipe, "name", "") or "",
                recipe_version=getattr(recipe, "version", None),
                backend=backend,
                image_threshold=float(s.image_threshold),
                pixel_threshold=float(s.pixel_threshold),
            )
            self._sink_ctx = (key, ctx)
        return self._sink_ctx[1]

    def run(self) -> None:
        try:
            if self._record:
                self.recording, why = open_recording(self._source, self._recipe_of)
                if why:
                    self.error.emit(why)
            while not self.stop_requested:
                self._warm_up(self.inspector)  # before frames arrive (the camera may still be starting)
                item = self.slot.take(0.1)
                if item is None:
                    continue
                frame, t_grab, skipped = item
                inspector = self.inspector
                if inspector is None:  # camera first: show the frame, inspect nothing, count nothing
                    self.rawReady.emit(prepare_raw(frame, t_grab, skipped))
                    continue
                self._warm_up(inspector)  # swapped while we waited: still prepared before its first frame
                try:
                    result = inspector.inspect(frame)
                    data = prepare(
                        frame,
                        result,
                        t_grab,
                        time.perf_counter(),
                        skipped,
                        inspector.settings.pixel_threshold,
                    )
                except AoiError as exc:
                    self._report(str(exc))
                    continue
                except Exception as exc:  # noqa: BLE001 - report, keep inspecting the next frames
                    self._report(f"inference failed: {type(exc).__name__}: {exc}")
                    continue
                self.inspected += 1
                if self.recording is not None:
                    self.recording.record(frame, result, inspector)
                    if self.inspected % 30 == 0 and (why := self.recording.problem()):
                        self._report(why)
                if self.sinks is not None:
                    self.sinks.submit(result, self._context(inspector), frame.timestamp_ns)
                self.resultReady.emit(data)
        finally:
            if self.recording is not None:
                self.recording.close()  # commits the last batch: every inspected frame is in the log
            self.finished.emit()
