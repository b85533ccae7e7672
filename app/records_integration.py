"""Put the station's memory into the operator's MainWindow through its public hooks (issue #24):

- a "Records" dock (floating, hidden until asked for: it never squeezes the live view) with the
  Records panel;
- "Shift / lot" counters in the operator column, fed by every inspected result (`state.counted`)
  and read again from the records at start and after each stop, so they survive restarts;
- "Recording settings…" (image quota, free-space guard, OK-image sampling), saved in the station
  home and applied to the running recorder;
- a banner over the verdict while stored images are paused (disk nearly full, image store failing);
  inspection and the records of verdicts go on.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtWidgets import QDockWidget, QGroupBox, QToolBar, QVBoxLayout, QWidget

from app.display_data import InspectedFrame
from app.panels.image_banner import ImageBanner
from app.panels.recording_settings_dialog import RecordingSettingsDialog
from app.panels.records_panel import RecordsPanel
from app.panels.shift_panel import ShiftPanel
from app.recording import ImageSavingWatch, Recorder, records_dir
from app.recording_settings import RecordingSettings, apply_to, load_settings, save_settings
from app.records_query import RecordsQuery
from inspection_core.errors import AoiError

if TYPE_CHECKING:
    from app.main_window import MainWindow

POLL_MS = 1000


class RecordsUi(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        state = window.state
        self.query = RecordsQuery(self)
        self.panel = RecordsPanel(records_dir, self.query)
        self.dock = QDockWidget("Records", window)
        self.dock.setObjectName("records_dock")
        self.dock.setWidget(self.panel)
        window.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.dock)
        self.dock.setFloating(True)
        self.dock.resize(1200, 700)
        self.dock.hide()
        self.dock.visibilityChanged.connect(lambda shown: shown and self.panel.refresh())

        self.shifts = ShiftPanel(records_dir, self.query, notify=state.notify)
        self.banner = ImageBanner()
        self.watch = ImageSavingWatch()
        self._place_in_operator_column()

        bar = getattr(getattr(window, "workspaces", None), "toolbar", None)
        if not isinstance(bar, QToolBar):
            bar = QToolBar("Records", window)
            bar.setObjectName("records_toolbar")
            window.addToolBar(Qt.ToolBarArea.TopToolBarArea, bar)
        self.toolbar = bar
        bar.addAction(self.dock.toggleViewAction())
        self.settings_action = bar.addAction("Recording settings…", self.edit_settings)

        self.shifts.started.connect(lambda kind, new, old: self._audit(f"start {kind}", kind, old, new))
        state.counted.connect(self.count)
        state.runningChanged.connect(self._running_changed)
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.poll)
        self.timer.start(POLL_MS)
        window.closed.connect(self.shutdown)
        # a restarted station continues its shift and lot from the records (once the window is built)
        QTimer.singleShot(0, self, self.shifts.resync)

    def _place_in_operator_column(self) -> None:
        """The shift counters under "Production", the banner above the verdict (its own box otherwise)."""
        box = QGroupBox("Shift / lot")
        QVBoxLayout(box).addWidget(self.shifts)
        production = self.window.counters_panel.parentWidget()
        column = production.parentWidget() if production is not None else None
        lay = column.layout() if column is not None else None
        if isinstance(lay, QVBoxLayout) and lay.indexOf(production) >= 0:
            lay.insertWidget(lay.indexOf(production) + 1, box)
            lay.insertWidget(0, self.banner)
        else:  # the operator column changed shape: a dock of our own rather than nothing
            holder = QWidget()
            hl = QVBoxLayout(holder)
            hl.addWidget(self.banner)
            hl.addWidget(box)
            dock = QDockWidget("Shift / lot", self.window)
            dock.setObjectName("shift_dock")
            dock.setWidget(holder)
            self.window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)

    # --- live -------------------------------------------------------------------------------------
    def count(self, item: InspectedFrame) -> None:
        self.shifts.add_result(item.result.is_ng)

    def _running_changed(self, running: bool) -> None:
        if not running:  # the recorder committed every row at stop: read the exact counts again
            self.shifts.resync()
            if self.dock.isVisible():
                self.panel.refresh()

    def recorder(self) -> Recorder | None:
        """The running inference worker's recorder (None while stopped or not recording)."""
        inf = self.window.inf
        recording = getattr(inf.worker, "recording", None) if inf is not None else None
        return recording.recorder if recording is not None else None

    def poll(self) -> None:
        if self.watch.update(self.recorder()):
            self.banner.set_paused(self.watch.paused, self.watch.reason)
            level, what = ("warning", "paused") if self.watch.paused else ("info", "resumed")
            self.window.state.notify(
                level, f"image saving {what}: {self.watch.reason or 'images are saved again'}"
            )

    def _audit(self, action: str, target: str, old: object, new: object) -> None:
        """Into the window's audit trail, where it has one (roles, #25)."""
        access = getattr(self.window, "access", None)
        if access is not None:
            access.record(action, target, old, new)

    # --- settings ---------------------------------------------------------------------------------
    def apply_settings(self, s: RecordingSettings) -> bool:
        """Save (station home) and apply to the running recorder; False (and a message) if refused."""
        before = load_settings()
        try:
            save_settings(s)
        except AoiError as exc:
            self.window.state.notify("error", str(exc))
            return False
        if s != before:
            self._audit("recording settings", "recording", asdict(before), asdict(s))
        rec = self.recorder()
        if rec is not None:
            apply_to(rec, s)
        self.window.state.notify(
            "info",
            f"recording settings: image quota {s.quota_mb:.0f} MB, keep {s.min_free_mb:.0f} MB free, "
            + (f"1 in {s.ok_image_every} OK images saved" if s.ok_image_every else "no OK images saved"),
        )
        self.poll()
        return True

    def edit_settings(self) -> None:
        access = getattr(self.window, "access", None)
        if access is not None and not access.allow("change the recording settings"):
            return
        rec = self.recorder()
        usage = ""
        if rec is not None and rec.store is not None:
            usage = f"images now use {rec.store.used_bytes / 1e6:,.0f} MB; {rec.store.free_mb():,.0f} MB free on disk"
        dialog = RecordingSettingsDialog(load_settings(), usage, self.window)
        try:
            if dialog.exec():
                self.apply_settings(dialog.settings())
        finally:
            dialog.deleteLater()

    def shutdown(self) -> None:
        self.timer.stop()
        self.panel.shutdown()
        self.query.shutdown()


def install_records(window: MainWindow) -> RecordsUi:
    return RecordsUi(window)
