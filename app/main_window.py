"""The operator's window: composes the view and panels, and runs the workers.

Threads: acquisition (its own QThread) → LatestFrameSlot → inference (its own QThread) → queued
signal → this window, which coalesces results and draws at most one per screen refresh.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

import torch
from PySide6.QtCore import QCoreApplication, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QDockWidget,
    QGroupBox,
    QHBoxLayout,
    QMainWindow,
    QProgressBar,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from app import paths, sources
from app.demo import load_cached
from app.display_data import InspectedFrame
from app.heartbeat import Heartbeat
from app.layout import LiveShareKeeper, scrolled
from app.panels import (
    CountersPanel,
    NgStrip,
    NotificationArea,
    OverlayPanel,
    SourcePanel,
    StationStatusBar,
    VerdictPanel,
)
from app.raw_frame import RawFeed
from app.snapshot import save_snapshot
from app.state import LiveLine, SessionState
from app.views import LiveView
from app.workers import AcquisitionWorker, InferenceWorker, LatestFrameSlot, WorkerThread
from app.workers.fit import DemoFitWorker
from inspection_core.camera.base import FrameSource
from inspection_core.camera.control import SourceControl
from inspection_core.errors import AoiError
from inspection_core.inspector import Inspector
from inspection_core.models.bundle import ModelBundle, load_bundle
from inspection_core.postprocess.settings import PostprocessSettings
from inspection_core.recipe import Recipe, RecipeError
from inspection_core.recipes.store import RecipeStore
from inspection_core.runtime.atomic import atomic_write_text
from inspection_core.runtime.context import device_label, resolve_device
from inspection_core.training.fit import calibrated_preprocessing

SourceOpener = Callable[[], FrameSource]
_log = logging.getLogger(__name__)
MIN_DRAW_INTERVAL_S = 1 / 60


def _boxed(title: str, widget: QWidget) -> QGroupBox:
    box = QGroupBox(title)
    lay = QVBoxLayout(box)
    lay.addWidget(widget)
    return box


class MainWindow(QMainWindow):
    """`opener_for(spec)` turns a picker entry into a source opener (tests inject stand-in sources).

    cpu_threads: torch threads for CPU inference; None = all cores but one, 0 = leave torch's setting.
    stop_patience_ms: how long Stop/close wait quietly for a worker before saying why the window waits
    (it then goes on waiting: a running thread is never dropped).
    backend: what runs the model — 'torch', 'auto' or another of `models.backends.available_backends()`
    (`python -m app` passes --backend, else the station setting); see app/backend_integration.py.
    """

    closed = Signal()  # after every worker stopped, before the window is deleted
    modelFailed = Signal(str)  # the model could not be loaded or fitted: the window is NOT INSPECTING

    def __init__(
        self,
        state: SessionState | None = None,
        opener_for: Callable[[str], SourceOpener] | None = None,
        device: str = "auto",
        demo_fit: DemoFitWorker | None = None,
        cpu_threads: int | None = None,
        stop_patience_ms: int = 2_000,
        sink_urls: list[str] | None = None,
        backend: str = "torch",
    ) -> None:
        super().__init__()
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.setWindowTitle("aoi-station — live inspection")
        self.state = state or SessionState()
        self.state.setParent(self)
        self._opener_for = opener_for or (lambda spec: lambda: sources.open_source(spec))
        self.device = resolve_device(device)
        if self.device.type == "cpu" and cpu_threads != 0:
            # leave a core to the GUI and acquisition threads: on a 2-core station torch on both cores
            # starves the event loop (heartbeat gaps of 100 ms at 5 MP); torch's pool is per process
            torch.set_num_threads(cpu_threads or max(1, (os.cpu_count() or 2) - 1))
        self.state.set_device(device_label(self.device))
        self.slot = LatestFrameSlot()
        self.camera_control = SourceControl()  # the camera panel's feature calls, run by acquisition
        self.raw_feed = RawFeed(self.state, parent=self)  # frames shown while no model is loaded
        self.acq: WorkerThread | None = None
        self.inf: WorkerThread | None = None
        self.fit: WorkerThread | None = None
        self._demo_fit = demo_fit
        self.bundle: ModelBundle | None = None
        self.inspector: Inspector | None = None
        self.settings = PostprocessSettings()
        self.recipe: Recipe | None = None  # the recipe live inspection runs, when it came from one
        self.model_source = ""  # the bare model's picker entry: "demo" or a model folder (LiveLine.source)
        self._spec: str | None = None
        self._opener: SourceOpener | None = None
        self._start_when_ready = False
        self._stopping = False
        self._close_when_stopped = False
        self._closing = False
        self.stop_patience_ms = stop_patience_ms
        self.model_error: str | None = None  # why no model is loaded, while that is so
        self._pending: InspectedFrame | None = None
        self._last_draw = 0.0
        self.display_dropped = 0
        self._draw_timer = QTimer(self)  # owned: it cannot fire into a deleted window
        self._draw_timer.setSingleShot(True)
        self._draw_timer.timeout.connect(self._draw)
        self.heartbeat = Heartbeat(parent=self)
        self._build()
        self._shortcuts()
        from app.training.integration import install_workspaces  # Tune / Train docks (issues #5, #6)

        self.workspaces = install_workspaces(self)
        from app.camera.integration import install_camera  # camera panel + feature tree (#25)

        self.camera = install_camera(self)
        from app.records_integration import install_records  # Records, shift/lot, image banner (#24)

        self.records_ui = install_records(self)
        from app.backend_integration import install_backend  # the inference backend (#27)

        self.backends = install_backend(self, backend)
        from app.station_access import install_access  # roles, audit trail, feedback loop (#25)

        self.station_access = install_access(self)  # after the panels whose changes it guards
        self.access = self.station_access.access
        self.live_share = LiveShareKeeper(self, self.live_view)  # live view ≥ 50 % of the width (#25)
        for dock in (self.workspaces.tune_dock, self.workspaces.train_dock):
            self.live_share.watch(dock, grow=True)
        from app.panels.sinks_panel import install_sinks  # every verdict to the line (#26)

        self.sinks = install_sinks(self, sink_urls)  # None: the station's sinks.json
        self._restore_layout()
        self.heartbeat.start()

    # --- layout --------------------------------------------------------------------------------
    def _build(self) -> None:
        s = self.state
        self.live_view = LiveView(s)
        self.setCentralWidget(self.live_view)
        self.verdict_panel = VerdictPanel(s)
        self.counters_panel = CountersPanel(s)
        self.source_panel = SourcePanel(s)
        self.overlay_panel = OverlayPanel(s)
        side = QWidget()
        lay = QVBoxLayout(side)
        lay.addWidget(self.verdict_panel)
        lay.addWidget(_boxed("Production", self.counters_panel))
        lay.addWidget(_boxed("Source and model", self.source_panel))
        lay.addWidget(_boxed("View", self.overlay_panel))
        lay.addStretch(1)
        dock = QDockWidget("Operator", self)
        dock.setObjectName("operator_dock")
        dock.setFeatures(QDockWidget.DockWidgetFeature.NoDockWidgetFeatures)
        dock.setWidget(scrolled(side, fit_width=True))  # scrolls on a 768-px screen (#25)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        self.ng_strip = NgStrip(s)
        self.notifications = NotificationArea(s)
        bottom = QWidget()
        bl = QHBoxLayout(bottom)  # side by side: the live view keeps the height of a 768-px screen
        bl.setContentsMargins(4, 0, 4, 0)
        bl.addWidget(_boxed("Last NG frames (click to view)", self.ng_strip), 3)
        bl.addWidget(self.notifications, 2)
        bottom.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        bdock = QDockWidget("Messages", self)
        bdock.setObjectName("messages_dock")
        bdock.setFeatures(QDockWidget.DockWidgetFeature.NoDockWidgetFeatures)
        bdock.setTitleBarWidget(QWidget())
        bdock.setWidget(bottom)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, bdock)
        self.setStatusBar(StationStatusBar(s))
        # first start: the demo model fits for seconds to minutes; say so and how far (issue #25)
        self.fit_bar = QProgressBar()
        self.fit_bar.setObjectName("demoFitProgress")
        self.fit_bar.setMaximumWidth(260)
        self.fit_bar.setVisible(False)
        self.statusBar().addPermanentWidget(self.fit_bar)
        self.source_panel.set_sources(*sources.scan_sources())
        # wiring: panels say what the operator wants, this window does it
        self.source_panel.startRequested.connect(self.request_start)
        self.source_panel.stopRequested.connect(self.request_stop)
        self.source_panel.refreshRequested.connect(
            lambda: self.source_panel.set_sources(*sources.scan_sources())
        )
        self.source_panel.modelRequested.connect(self.request_model)
        self.source_panel.snapshotRequested.connect(self.snapshot)
        self.overlay_panel.fitRequested.connect(self.live_view.fit)
        self.overlay_panel.oneToOneRequested.connect(self.live_view.one_to_one)
        self.overlay_panel.roiRequested.connect(self.toggle_roi)
        self.live_view.roiDrawn.connect(self.set_roi)
        self.ng_strip.picked.connect(lambda item: self.state.show(item, count=False))
        self.notifications.reconnectRequested.connect(self.reconnect)
        help_menu = self.menuBar().addMenu("&Help")
        self.about_action = help_menu.addAction("&About aoi-station", self.show_about)
        self.resize(1400, 900)

    def show_about(self) -> None:
        """Help → About: version, revision, torch/CUDA and Qt (app/about.py)."""
        from app.about import AboutDialog

        self.about_dialog = AboutDialog(self, backend=self.state.backend)
        self.about_dialog.open()

    def _shortcuts(self) -> None:
        keys = {
            "Space": self.source_panel.toggle,
            "S": self.snapshot,
            "F": self.live_view.fit,
            "1": self.live_view.one_to_one,
            "O": lambda: self.state.update_overlay(raw_only=not self.state.overlay.raw_only),
        }
        self.shortcuts = {}
        for key, fn in keys.items():
            sc = QShortcut(QKeySequence(key), self)
            sc.setContext(Qt.ShortcutContext.WindowShortcut)
            sc.activated.connect(fn)
            self.shortcuts[key] = sc

    # --- model -----------------------------------------------------------------------------------
    def set_bundle(self, bundle: ModelBundle, settings: PostprocessSettings | None = None) -> None:
        """A model without a recipe: inspected in the mode it was calibrated in (its calibration facts),
        with `settings` or the window's current ones."""
        self.set_inspector(Inspector(bundle, settings or self.settings, calibrated_preprocessing(bundle)))

    def set_inspector(self, inspector: Inspector, recipe: Recipe | None = None) -> None:
        """The one entry point for what live inspection uses (model, thresholds, ROI, preprocessing — a
        recipe's `build_inspector`, a deploy, Apply in Tune): the inference worker swaps it between two
        frames; nothing rebuilds it. With `recipe` (a deploy or a loaded recipe) the station remembers
        it and reopens it at the next start."""
        inspector.bundle.model.to(self.device).eval()
        same_model = self.bundle is inspector.bundle  # Apply, ROI: the live recipe stays live
        old_inspector, old_recipe = self.inspector, self.recipe
        self.bundle = inspector.bundle
        self.settings = inspector.settings
        self.state.set_roi(self.settings.roi)
        self.inspector = inspector
        bundle = inspector.bundle
        if self.inf is not None:
            self.inf.worker.set_inspector(self.inspector)  # type: ignore[attr-defined]
        self.state.set_thresholds(self.settings.image_threshold, self.settings.pixel_threshold)
        if recipe is not None and recipe.version:
            changed = self.recipe is None or (self.recipe.name, self.recipe.version) != (
                recipe.name,
                recipe.version,
            )
            self.recipe = recipe
            self.model_error = None
            self._remember(recipe=f"{recipe.name}@{recipe.version}", model=None)
            self.camera.apply_recipe(recipe)  # its camera settings, on the running camera too
            if changed:
                self.state.notify("info", f"live recipe: {recipe.name} v{recipe.version} ({bundle.name})")
        elif not same_model:
            self.recipe = None  # another model: no recipe is live any more
        self._show_live()
        self.access.live_changed(old_inspector, old_recipe, inspector, self.recipe)  # the audit trail
        self.backends.live_changed(inspector)  # onto the chosen backend (prepared off this thread)
        if self._start_when_ready and self._spec:
            self._start_when_ready = False
            self.start(self._spec)

    def swap_backend(self, bundle: ModelBundle) -> None:
        """The live model, unchanged, on another backend (`bundle` from `models.backends.with_backend`):
        same recipe, settings and preprocessing, swapped between two frames; not a model change."""
        old = self.inspector
        if old is None:
            return
        bundle.model.to(self.device).eval()
        self.bundle = bundle
        self.inspector = Inspector(bundle, old.settings, old.preprocessing, old.post_on_device)
        if self.inf is not None:
            self.inf.worker.set_inspector(self.inspector)  # type: ignore[attr-defined]

    def _show_live(self) -> None:
        """One LiveLine for every view (status bar, model picker, recipe bar, Tune's Apply)."""
        if self.inspector is None:
            return
        bundle = self.inspector.bundle
        model = f"{bundle.name} ({bundle.info.get('purpose', 'custom')})"
        r = self.recipe
        source = f"recipe:{r.name}@{r.version}" if r is not None else self.model_source
        self.state.set_live(
            LiveLine(model, r, source, settings=self.settings, normalization=bundle.normalization)
        )

    def load_model(self, which: str) -> bool:
        """Load a model folder (or the demo model); on failure the window stays up in its error state."""
        if which.startswith("recipe:"):  # the model picker's entry for a deployed recipe
            return self.load_recipe(which.removeprefix("recipe:"))
        if which == "demo":
            self.recipe = None
            self._remember(model="demo", recipe=None)
            self.ensure_demo_model()
            return self.model_error is None
        try:
            bundle = load_bundle(Path(which), self.device)
            self.model_source = str(Path(which).resolve())
            self.set_bundle(bundle)
        except AoiError as exc:
            self._model_failed(str(exc))
            return False
        except Exception as exc:  # noqa: BLE001 - a bad model file must never take the station down
            self._model_failed(f"cannot load model {which}: {type(exc).__name__}: {exc}")
            return False
        self.model_error = None
        self.recipe = None
        self._remember(model=str(Path(which).resolve()), recipe=None)
        self.state.notify("info", f"model loaded: {which}")
        return True

    def load_recipe(self, spec: str) -> bool:
        """Inspect with the stored recipe `NAME[@VERSION]` (default: its latest version): its model,
        thresholds, ROI and preprocessing. On failure the window stays up in its error state."""
        name, _, version = spec.partition("@")
        store = RecipeStore(paths.recipes_dir())
        try:
            if version and not version.lstrip("v").isdigit():
                raise RecipeError(f"bad recipe version in {spec!r}: use NAME or NAME@VERSION (e.g. Tile@3)")
            recipe = store.load(name, int(version.lstrip("v")) if version else None)
            inspector = recipe.build_inspector(self.device)
        except AoiError as exc:
            self._model_failed(f"cannot load recipe {spec}: {exc}")
            return False
        except Exception as exc:  # noqa: BLE001 - a bad recipe must never take the station down
            self._model_failed(f"cannot load recipe {spec}: {type(exc).__name__}: {exc}")
            return False
        self.set_inspector(inspector, recipe)
        self.workspaces.tune.session.store = store
        self.workspaces.tune.session.set_recipe(recipe)
        return True

    # --- what a restart reopens ----------------------------------------------------------------
    @staticmethod
    def last_session() -> dict[str, str]:
        """The last deployed recipe (or model) and source, as `_remember` wrote them; {} if none."""
        try:
            data = json.loads(paths.last_session_file().read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict):
            return {}
        return {k: v for k, v in data.items() if isinstance(v, str) and v}

    def _remember(self, **kw: str | None) -> None:
        """Merge into the last-session file (atomically: a kill leaves the old one or the new one)."""
        data: dict[str, str | None] = {**self.last_session(), **kw}
        path = paths.last_session_file()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(path, json.dumps({k: v for k, v in data.items() if v}, indent=2))
        except OSError as exc:
            self.state.notify("warning", f"cannot remember the session for the next start: {exc}")

    @staticmethod
    def layout_settings() -> QSettings:
        """Window geometry and dock state, kept in the station home with everything else."""
        return QSettings(str(paths.station_home() / "window.ini"), QSettings.Format.IniFormat)

    def _restore_layout(self) -> None:
        s = self.layout_settings()
        geometry, dock_state = s.value("window/geometry"), s.value("window/state")
        if geometry is not None:
            self.restoreGeometry(geometry)
        if dock_state is not None:
            self.restoreState(dock_state)

    def _save_layout(self) -> None:
        s = self.layout_settings()
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())
        s.sync()

    def _model_failed(self, message: str) -> None:
        """Error state: say why, keep the window, inspect nothing until a model loads."""
        self.model_error = message
        if self.inspector is None:
            self.state.set_model("NOT INSPECTING (no model)", ready=False)
            message += " — NOT INSPECTING: load a model to start"
        self.state.notify("error", message)
        self.modelFailed.emit(message)

    def ensure_demo_model(self, directory: Path | None = None) -> None:
        """Use the cached demo model, or fit it on good simulated frames in a worker (first start)."""
        directory = directory or paths.demo_model_dir()
        self.model_source = "demo"
        cached = load_cached(directory, self.device)
        if cached is not None:
            self.set_bundle(cached)
            return
        if self.fit is not None and self.fit.is_running():
            return
        worker = self._demo_fit or DemoFitWorker(lambda: sources.open_demo_source(defect_rate=0.0), directory)
        self._demo_fit = None
        worker.progress.connect(self._fit_progress)
        worker.done.connect(self._fit_done)
        worker.error.connect(self._model_failed)
        worker.error.connect(self._fit_ended)
        self.fit_bar.setRange(0, 0)  # busy until the first step is known
        self.fit_bar.setFormat("fitting the demo model…")
        self.fit_bar.setVisible(True)
        self.state.set_model("fitting demo model…", ready=False)
        self.state.notify("info", "first start: fitting the demo model on good simulated frames")
        self.fit = WorkerThread(worker, "demo-fit")
        self.fit.start()

    def _fit_progress(self, stage: str, step: int, total: int) -> None:
        self.statusBar().showMessage(f"demo model: {stage} {step}/{total}")
        if total > 0 and step < total:
            self.fit_bar.setRange(0, total)
            self.fit_bar.setValue(step)
            self.fit_bar.setFormat(f"demo model: {stage} %p%")
        else:  # a stage done, the next not yet reported: busy, never a 100 % that is not
            self.fit_bar.setRange(0, 0)
            self.fit_bar.setFormat(f"demo model: {stage}…")

    def _fit_ended(self, *_args: object) -> None:
        self.fit_bar.setVisible(False)

    def _fit_done(self, bundle: ModelBundle) -> None:
        self._fit_ended()
        self.model_error = None
        self.statusBar().showMessage(f"demo model ready ({bundle.info.get('fit_seconds', '?')} s)", 5000)
        self.state.notify("info", f"demo model fitted in {bundle.info.get('fit_seconds', '?')} s and cached")
        self.set_bundle(bundle)

    def set_roi(self, roi) -> None:  # noqa: ANN001 - Roi
        self.settings = self.settings.with_(roi=roi)
        self.state.set_roi(roi)
        if self.inspector is not None:
            self.set_inspector(self.inspector.with_settings(self.settings))

    def toggle_roi(self) -> None:
        if self.live_view.editing_roi:
            self.live_view.finish_roi()
            self.overlay_panel.buttons["Draw ROI"].setText("Draw ROI")
        else:
            if not self.access.allow("edit the ROI"):
                return
            self.live_view.begin_roi()
            if self.live_view.editing_roi:
                self.overlay_panel.buttons["Draw ROI"].setText("Apply ROI")

    # --- acquisition + inference -----------------------------------------------------------------
    def start(self, spec: str, opener: SourceOpener | None = None) -> None:
        """Start acquiring from `spec`; inspection begins as soon as a model is loaded."""
        if self.state.running:
            return
        self._spec = spec
        self._opener = opener or self._opener_for(spec)
        self._remember(source=spec)
        self.source_panel.select_source(spec)
        if self.inspector is None and self.fit is not None and self.fit.is_running():
            self._start_when_ready = True
            self.state.notify("info", "will start once the demo model is ready")
            return
        self._start_threads()

    def _start_threads(self) -> None:
        assert self._opener is not None
        self.slot.reopen()
        inf = InferenceWorker(
            self.slot,
            self.inspector,
            source=self._spec or "",
            recipe_of=lambda: self.recipe,
            sinks=self.sinks.hub,
        )
        inf.resultReady.connect(self._on_result)
        inf.rawReady.connect(self.raw_feed.put)
        # worker signals go to bound methods of this GUI-thread object (queued); a lambda would run in
        # the worker's thread and touch widgets from there
        inf.error.connect(self._on_worker_error)
        inf.status.connect(self._on_worker_status)
        acq = AcquisitionWorker(
            self._opener, self.slot, control=self.camera_control, prepare=self.camera.prepare
        )
        acq.warned.connect(self._on_worker_status_warning)
        acq.ended.connect(self._on_worker_status)
        acq.opened.connect(self.state.set_source)
        acq.stateChanged.connect(self._on_camera_state)
        acq.lost.connect(self._on_camera_lost)
        acq.error.connect(self._on_worker_error)
        self.inf = WorkerThread(inf, "inference")
        self.acq = WorkerThread(acq, "acquisition")
        self.state.set_camera_state("starting")
        self.state.set_error("")
        self.state.set_running(True)
        self.inf.start()
        self.acq.start()

    def _on_worker_error(self, message: str) -> None:
        self.state.set_error(message)  # NOT INSPECTING until a frame is inspected again
        self.state.notify("error", message)

    def _on_worker_status(self, message: str) -> None:
        self.state.notify("info", message)

    def _on_worker_status_warning(self, message: str) -> None:
        self.state.notify("warning", message)

    def _on_camera_lost(self, message: str) -> None:
        self.state.notify("error", f"camera lost: {message}")

    def _on_camera_state(self, s: str) -> None:
        _log.info("camera %s (%s)", s, self._spec)
        self.state.set_camera_state(s)
        if s in ("stopped", "lost") and self.state.running and not self._stopping:
            self._stop_threads()
            self.state.set_camera_state(s)

    def _stop_threads(self) -> None:
        self._stopping = True
        try:
            self._stop_threads_now()
        finally:
            self._stopping = False
        if self._close_when_stopped:
            self._close_when_stopped = False
            QTimer.singleShot(0, self.close)

    def _stop_threads_now(self) -> None:
        for wt in (self.acq, self.inf):
            if wt is not None:
                wt.worker.request_stop()
        self.slot.close()
        waits = {
            "inference": "finishing the current frame…",
            "acquisition": "waiting for the camera to stop…",
        }
        for wt in (self.acq, self.inf):
            if wt is not None:
                message = waits.get(wt.thread.objectName(), "waiting for a worker to stop…")
                wt.stop_and_wait(self.stop_patience_ms, lambda m=message: self._waiting(m))
        # what the workers emitted before they ended (results, errors, state): deliver it now, while
        # the workers still exist, so the counters are complete at stop and nothing arrives after it
        QCoreApplication.sendPostedEvents()
        self.acq = self.inf = None
        self._draw_timer.stop()
        self._draw()
        self.state.set_running(False)

    def _waiting(self, message: str) -> None:
        """Tell the operator why Stop/close has not returned yet (the wait itself goes on)."""
        self.statusBar().showMessage(message)
        self.state.notify("info", message)

    def stop(self) -> None:
        self._start_when_ready = False
        if self.state.running:
            self._stop_threads()
            self.state.set_camera_state("stopped")

    def request_start(self, spec: str) -> None:
        """Start as the operator asks for it (button, Space): the operator may, and it is audited."""
        if not self.state.running:  # the operator may start: no PIN asked
            self.access.record("start", "inspection", "stopped", spec)
        self.start(spec)

    def request_stop(self) -> bool:
        """Stop as the operator asks for it (button, Space): confirmed first, and audited."""
        if self.state.running:
            if not self.access.ask_stop():
                return False
            self.access.record("stop", "inspection", "running", "stopped")
        self.stop()
        return True

    def request_model(self, which: str) -> bool:
        """The model picker: changing what live inspection uses is the engineer's."""
        if not self.access.allow(f"switch the model to {which}"):
            self.source_panel.show_live(self.state.live)  # refused: the picker shows what is live again
            return False
        return self.load_model(which)

    def reconnect(self) -> None:
        if self._opener is None or self.state.running:
            return
        self.state.set_camera_state("reconnecting")
        self._start_threads()

    # --- drawing ---------------------------------------------------------------------------------
    def _on_result(self, item: InspectedFrame) -> None:
        """Coalesce: keep only the newest result; draw it at most once per screen refresh."""
        if self._pending is not None:
            self.display_dropped += 1
            self.state.count(self._pending, emit=False)  # not drawn, but inspected and recorded: it counts
        self._pending = item
        if not self._draw_timer.isActive():
            wait = MIN_DRAW_INTERVAL_S - (time.perf_counter() - self._last_draw)
            self._draw_timer.start(max(0, int(wait * 1000)))

    def _draw(self) -> None:
        item, self._pending = self._pending, None
        if item is None:
            return
        self._last_draw = time.perf_counter()
        self.state.show(item)

    def snapshot(self) -> dict[str, Path] | None:
        item = self.state.current
        if item is None:
            self.state.notify("warning", "nothing to snapshot yet")
            return None
        try:
            files = save_snapshot(item, paths.snapshot_dir(), self.state.pixel_threshold)
        except (AoiError, OSError) as exc:
            self.state.notify("error", f"snapshot failed: {exc}")
            return None
        self.state.notify("info", f"snapshot saved: {files['raw'].parent / files['raw'].stem}")
        return files

    # --- shutdown ----------------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Stop every worker and wait for its thread (idempotent)."""
        self.heartbeat.stop()
        self._draw_timer.stop()
        self._start_when_ready = False
        if self.state.running:
            self._stop_threads()
        if self.fit is not None:
            self._stopping = True
            try:
                self.fit.stop_and_wait(
                    self.stop_patience_ms, lambda: self._waiting("stopping the demo model fit…")
                )
            finally:
                self._stopping = False
            self.fit = None
        self._pending = None

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt API
        if self._stopping:  # a close arriving while Stop waits for a worker: close once it has ended
            self._close_when_stopped = not self._closing  # (a second close during this close: nothing to do)
            event.ignore()
            return
        self._closing = True
        self._save_layout()
        self.shutdown()
        self.closed.emit()
        super().closeEvent(event)
