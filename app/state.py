"""One evented model of the session; widgets bind to its signals instead of to each other.

Only the GUI thread touches it. Workers talk to the MainWindow (queued signals), which feeds this.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from dataclasses import dataclass, replace
from typing import Any

from PySide6.QtCore import QObject, Signal

from app.counters import Counters, CounterSnapshot
from app.display_data import InspectedFrame
from inspection_core.postprocess.roi import Roi

_log = logging.getLogger(__name__)
_log.addHandler(logging.NullHandler())  # no log file set up (tests, embedding): stay quiet on stderr
_LEVELS = {"info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
DROP_WINDOW = 50  # results the drop rate is measured over
DROP_MIN_RESULTS = 20  # fewer: too few to call a rate


@dataclass(frozen=True)
class OverlaySettings:
    """What the live view draws over the frame. `raw_only` hides every overlay (the raw/overlay toggle)."""

    heatmap: bool = True
    outlines: bool = True
    boxes: bool = True
    roi: bool = True
    opacity: float = 0.5
    raw_only: bool = False

    def with_(self, **kw: Any) -> OverlaySettings:
        return replace(self, **kw)


@dataclass(frozen=True)
class LiveLine:
    """What live inspection runs now: the one truth that the status bar, the model picker, the recipe
    bar and Tune's Apply read (issue #25: they used to disagree after Apply, deploy or a switch)."""

    model: str = ""  # the model's label, e.g. "patchcore (demo)"
    recipe: Any = None  # the Recipe live inspection runs; None: a bare model (demo or a model folder)
    source: str = ""  # what the model picker selects: "demo", a model folder, or "recipe:NAME@VERSION"
    settings: Any = None  # the PostprocessSettings in force (thresholds, min area, ROI, pixel size)
    normalization: Any = None  # the model's Normalization: scores before their floor at 0

    def margin(self, score: float, raw_score: float) -> float | None:
        """Signed distance of a frame's image score to the threshold, before the floor at 0 (a good
        frame far below the threshold shows how far, not "score 0.000"); None when unknown."""
        if self.settings is None:
            return None
        s = score
        if self.normalization is not None and not self.settings.roi.shapes and math.isfinite(raw_score):
            s = float(self.normalization.score_unfloored(float(raw_score)))
        return s - float(self.settings.image_threshold) if math.isfinite(s) else None

    def verdict_rule(self) -> str:
        """The verdict rule in words, as `postprocess.is_ng` applies it with these settings."""
        s = self.settings
        if s is None:
            return ""
        rule = f"NG when the image score ≥ {s.image_threshold:.2f}"
        needs = []
        if s.min_defect_area > 0:
            needs.append(f"a region of ≥ {s.min_defect_area} px")
        if s.roi.shapes:
            needs.append("a region inside the ROI")
        if needs:
            rule += " and " + " and ".join(needs) + " survives"
        return rule

    @property
    def recipe_key(self) -> tuple[str, int] | None:
        return (self.recipe.name, int(self.recipe.version)) if self.recipe is not None else None

    def label(self) -> str:
        if self.recipe is None:
            return self.model
        return f"{self.recipe.name} v{self.recipe.version} — {self.model}"


class SessionState(QObject):
    cameraStateChanged = Signal(str)  # idle | starting | running | stopped | lost | reconnecting
    sourceChanged = Signal(str)
    modelChanged = Signal(str)
    deviceChanged = Signal(str)
    backendChanged = Signal(str, str)  # what runs the model now, what is being prepared ("" if nothing)
    runningChanged = Signal(bool)
    currentChanged = Signal(object)  # InspectedFrame now shown
    rawChanged = Signal(object)  # app.raw_frame.RawFrame shown uninspected (no model loaded yet)
    ngAdded = Signal(object)  # InspectedFrame with verdict NG
    countersChanged = Signal(object)  # CounterSnapshot
    counted = Signal(object)  # every inspected InspectedFrame, drawn or not (shift/lot counters)
    overlayChanged = Signal(object)  # OverlaySettings
    thresholdsChanged = Signal(float, float)  # image, pixel (normalised)
    roiChanged = Signal(object)  # Roi
    notified = Signal(str, str)  # level ("info" | "warning" | "error"), message
    errorChanged = Signal(str)  # why frames go uninspected now ("" once a result comes through again)
    dropAlarmChanged = Signal(bool)  # frames dropped above max_drop_rate (True) or back under it
    liveChanged = Signal(object)  # LiveLine: the recipe/version/model now live (every view follows it)

    def __init__(self) -> None:
        super().__init__()
        self.counters = Counters()
        self.camera_state = "idle"
        self.source_label = ""
        self.model_name = ""
        self.live = LiveLine()
        self.device = ""
        self.backend = ""  # what runs the live model: 'torch', 'onnxruntime', … ("" before any model)
        self.backend_pending = ""  # the backend being prepared for it ("" when none)
        self.running = False
        self.current: InspectedFrame | None = None
        self.raw: Any = None  # the newest RawFrame shown without a model (app.raw_frame)
        self.overlay = OverlaySettings()
        self.image_threshold = 0.5
        self.pixel_threshold = 0.5
        self.roi = Roi()
        self.notifications: list[tuple[str, str]] = []
        self._last_alarm = ""  # the alarm of the last counted result (an alarm is told once per cause)
        self.error = ""  # a worker error since the last inspected result: NOT INSPECTING meanwhile
        self.model_ready = False  # a model is loaded: without one the station is NOT INSPECTING
        # a setting: the fraction of grabbed frames that may go uninspected before the alarm (None: off,
        # as on a continuous web where inspecting the newest frame is the design)
        self.max_drop_rate: float | None = None
        self.drop_alarm = False
        self._recent_skipped: deque[int] = deque(maxlen=DROP_WINDOW)

    # --- setters that emit only on change ----------------------------------------------------
    def set_camera_state(self, state: str) -> None:
        if state != self.camera_state:
            self.camera_state = state
            self.cameraStateChanged.emit(state)

    def set_source(self, label: str) -> None:
        self.source_label = label
        self.sourceChanged.emit(label)

    def set_model(self, name: str, ready: bool = True) -> None:
        """`ready=False`: a label only ("fitting…", "no model"); nothing is inspected meanwhile."""
        self.model_name = name
        self.model_ready = ready
        self.modelChanged.emit(name)

    def set_live(self, line: LiveLine) -> None:
        """Switch every view to the line now live, in one step (emits only on a change)."""
        if (line.model, line.recipe_key, line.source, line.settings) == (
            self.live.model,
            self.live.recipe_key,
            self.live.source,
            self.live.settings,
        ) and self.model_ready:
            return
        self.live = line
        self.set_model(line.label())
        self.liveChanged.emit(line)

    def set_device(self, label: str) -> None:
        self.device = label
        self.deviceChanged.emit(label)

    def set_backend(self, backend: str, pending: str = "") -> None:
        if (backend, pending) != (self.backend, self.backend_pending):
            self.backend, self.backend_pending = backend, pending
            self.backendChanged.emit(backend, pending)

    def set_running(self, running: bool) -> None:
        if running != self.running:
            self.running = running
            self.runningChanged.emit(running)

    def set_overlay(self, overlay: OverlaySettings) -> None:
        if overlay != self.overlay:
            self.overlay = overlay
            self.overlayChanged.emit(overlay)

    def update_overlay(self, **kw: Any) -> None:
        self.set_overlay(self.overlay.with_(**kw))

    def set_thresholds(self, image: float, pixel: float) -> None:
        self.image_threshold, self.pixel_threshold = float(image), float(pixel)
        self.thresholdsChanged.emit(self.image_threshold, self.pixel_threshold)

    def set_roi(self, roi: Roi) -> None:
        self.roi = roi
        self.roiChanged.emit(roi)

    def set_error(self, message: str) -> None:
        if message != self.error:
            self.error = message
            self.errorChanged.emit(message)

    def notify(self, level: str, message: str) -> None:
        """Show a message in the notification area; the one hook that also puts it in the log file."""
        _log.log(_LEVELS.get(level, logging.WARNING), message)
        self.notifications.append((level, message))
        del self.notifications[:-200]
        self.notified.emit(level, message)

    # --- results ------------------------------------------------------------------------------
    def show(self, item: InspectedFrame, count: bool = True) -> None:
        """Make `item` current; `count=False` re-shows an old frame (NG strip) without counting it."""
        if count:
            self.set_error("")  # a frame was inspected: whatever failed before works again
        self.current = item
        self.currentChanged.emit(item)
        if count:
            self.count(item)

    def count(self, item: InspectedFrame, emit: bool = True) -> None:
        """Count one inspected result, shown or not (the window draws only the newest of a burst, but
        every inspected part counts: the counters must match the records). `emit=False`: no counter
        snapshot now (a result never drawn; the next drawn one sends the totals)."""
        latency_ms = (time.perf_counter() - item.t_grab) * 1e3
        self.counters.add(item.result.is_ng, latency_ms, item.inference_ms, item.skipped)
        self._check_drops(item.skipped)
        if item.result.is_ng:
            self.ngAdded.emit(item)
        if item.result.alarm and item.result.alarm != self._last_alarm:  # once per cause, not per frame
            self.notify(
                "error", f"ALARM — verdicts cannot be trusted: {item.result.alarm} (parts fail as NG)"
            )
        self._last_alarm = item.result.alarm
        self.counted.emit(item)
        if emit:
            self.countersChanged.emit(self.counters.snapshot())

    def show_raw(self, raw: Any) -> None:
        """Show a frame that was not inspected (camera first: no model yet); nothing is counted."""
        self.raw = raw
        self.rawChanged.emit(raw)

    def latest_frame(self) -> Any:
        """The newest Frame on screen, inspected or raw (what capture takes); None before any."""
        cur, raw = self.current, self.raw
        if raw is not None and (cur is None or raw.t_grab > cur.t_grab):
            return raw.frame
        return cur.frame if cur is not None else None

    def drop_rate(self) -> float:
        """Fraction of the grabbed frames dropped over the last DROP_WINDOW results."""
        shown = len(self._recent_skipped)
        dropped = sum(self._recent_skipped)
        return dropped / (dropped + shown) if shown else 0.0

    def _check_drops(self, skipped: int) -> None:
        """Raise the alarm once when drops pass the limit; clear it once they fall under half of it."""
        self._recent_skipped.append(skipped)
        limit = self.max_drop_rate
        if limit is None or len(self._recent_skipped) < DROP_MIN_RESULTS:
            return
        rate = self.drop_rate()
        if not self.drop_alarm and rate > limit:
            self.drop_alarm = True
            self.notify(
                "error",
                f"ALARM — {rate:.0%} of frames are not inspected (limit {limit:.0%}): "
                "inspection cannot keep up with the camera",
            )
            self.dropAlarmChanged.emit(True)
        elif self.drop_alarm and rate <= limit / 2:
            self.drop_alarm = False
            self.notify("info", f"frame drops back to {rate:.0%} (limit {limit:.0%})")
            self.dropAlarmChanged.emit(False)

    def reset_counters(self) -> None:
        self.counters.reset()
        self.countersChanged.emit(self.counters.snapshot())

    def snapshot(self) -> CounterSnapshot:
        return self.counters.snapshot()
