"""Sinks panel: where every verdict goes (MQTT, OPC UA, folder, webhook, camera output), each sink's
state and counters, and a "Send test message" button; `install_sinks` gives the window its SinkHub.

The hub lives as long as the window (an OPC UA server or an MQTT session outlasts a Stop/Start); the
inference worker hands it every result. A sink that keeps failing raises the station's alarm (a
notification and the panel's red line) and never stops inspection. The panel polls the hub's counters
twice a second on the GUI thread (a few attribute reads per sink).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QDockWidget,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app import paths
from inspection_core.errors import AoiError
from inspection_core.records.log import default_station_id
from inspection_core.sinks import SinkHub, SinkState, load_urls, make_sink

if TYPE_CHECKING:
    from app.main_window import MainWindow

_log = logging.getLogger(__name__)
COLUMNS = ("Sink", "State", "Sent", "Dropped", "Failed", "Queued", "Latency p50 / max (ms)", "Last error")
POLL_MS = 500
_STATE_COLOURS = {
    SinkState.CONNECTED: "#1b8a3a",
    SinkState.CONNECTING: "#8a6d1b",
    SinkState.RETRYING: "#c77c00",
    SinkState.FAILING: "#c0262d",
    SinkState.CLOSED: "#666666",
}


class SinksPanel(QWidget):
    """A table of the hub's sinks; `alarmChanged(text)` when a sink starts or stops failing ("" =
    all deliver again); `testFinished({sink: None or why not})` after "Send test message"."""

    alarmChanged = Signal(str)
    testFinished = Signal(object)

    def __init__(self, hub: SinkHub, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.hub = hub
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        self.alarm_label = QLabel("")
        self.alarm_label.setObjectName("sinks_alarm")
        self.alarm_label.setWordWrap(True)
        self.alarm_label.setStyleSheet("color: #c0262d; font-weight: bold;")
        self.alarm_label.hide()
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.empty_label = QLabel(
            "No sinks: verdicts stay on this station. Add one with `aoi sinks add URL` "
            "(mqtt://, opcua://, folder:, http://, camera-output:) or start with --sink URL."
        )
        self.empty_label.setWordWrap(True)
        self.test_button = QPushButton("Send test message")
        self.test_button.clicked.connect(self.send_test)
        self.test_result = QLabel("")
        self.test_result.setWordWrap(True)
        lay.addWidget(self.alarm_label)
        lay.addWidget(self.empty_label)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.test_button)
        lay.addWidget(self.test_result)
        self._tester: threading.Thread | None = None
        # a test message reaches the line (a reject pulse, an MES record): the engineer's, and audited
        self.guard: Callable[[str], bool] = lambda _what: True  # the window's AccessControl.allow
        self.record: Callable[[str, str], object] = lambda _action, _target: None
        self.test_timeout_s = 5.0
        self.testFinished.connect(self._show_test)
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.refresh)
        self.timer.start(POLL_MS)
        self.refresh()

    def refresh(self) -> None:
        """Redraw the counters; say once when the alarm starts or ends."""
        stats = self.hub.stats()
        self.empty_label.setVisible(not stats)
        self.table.setVisible(bool(stats))
        self.test_button.setEnabled(bool(stats) and not self.testing)
        self.table.setRowCount(len(stats))
        for row, s in enumerate(stats):
            lat = "—" if s.latency_ms_p50 is None else f"{s.latency_ms_p50:.1f} / {s.latency_ms_max:.1f}"
            cells = (s.name, str(s.state), s.sent, s.dropped, s.failed, s.queued, lat, s.last_error or "")
            for col, value in enumerate(cells):
                item = self.table.item(row, col)
                if item is None:
                    item = QTableWidgetItem()
                    self.table.setItem(row, col, item)
                item.setText(str(value))
                if col == 1:
                    item.setForeground(Qt.GlobalColor.white)
                    item.setBackground(_qcolor(_STATE_COLOURS.get(s.state, "#666666")))
        alarm = self.hub.poll()
        if alarm is not None:
            self.alarm_label.setText(f"ALARM — {alarm}" if alarm else "")
            self.alarm_label.setVisible(bool(alarm))
            self.alarmChanged.emit(alarm)

    @property
    def testing(self) -> bool:
        return self._tester is not None and self._tester.is_alive()

    def send_test(self) -> None:
        """Send a test message to every sink on a helper thread (the GUI never waits on a receiver)."""
        if self.testing or not len(self.hub):
            return
        if not self.guard("send a test message to the line's sinks"):
            return
        self.record("send test message", ", ".join(self.hub.names))
        self.test_button.setEnabled(False)
        self.test_result.setText("sending a test message…")
        self._tester = threading.Thread(
            target=lambda: self.testFinished.emit(self.hub.send_test(timeout=self.test_timeout_s)),
            name="aoi-sinks-test",
            daemon=True,
        )
        self._tester.start()

    def _show_test(self, results: dict[str, str | None]) -> None:
        self.test_result.setText(
            "\n".join(f"{name}: {'sent' if err is None else err}" for name, err in results.items())
        )
        self.test_button.setEnabled(bool(len(self.hub)))

    def shutdown(self) -> None:
        self.timer.stop()
        if self._tester is not None:
            self._tester.join(6.0)


def _qcolor(hex_: str) -> Any:
    from PySide6.QtGui import QColor

    return QColor(hex_)


class _RecipeBridge(QObject):
    """OPC UA's SwitchRecipe arrives on the server's thread: a queued signal takes it to the window."""

    requested = Signal(str)


@dataclass
class SinksUi:
    hub: SinkHub
    panel: SinksPanel
    dock: QDockWidget
    errors: list[str]

    def shutdown(self) -> None:
        self.panel.shutdown()
        self.hub.close()


def _camera_node_map(window: MainWindow) -> Any:
    """The open GenICam camera's node map (Harvesters' remote device), or None (no camera, or not
    GenICam): what the camera-output sink pulses. Read by the sink's thread: GenApi serialises node
    access per device."""
    acq = window.acq
    source = getattr(getattr(acq, "worker", None), "source", None)
    ia = getattr(source, "_ia", None)
    return None if ia is None else ia.remote_device.node_map


def open_hub(window: MainWindow, urls: Sequence[str] | None) -> tuple[SinkHub, list[str]]:
    """The hub for `urls` (None: the station's sinks.json); a bad URL or config is skipped and said,
    never a reason not to inspect."""
    errors: list[str] = []
    if urls is None:
        try:
            urls = load_urls(paths.station_home())
        except AoiError as exc:
            errors.append(str(exc))
            urls = []
    bridge = _RecipeBridge(window)
    bridge.requested.connect(window.load_recipe)

    def switch_recipe(name: str) -> str:
        bridge.requested.emit(name)
        return f"switching to recipe {name}"

    station = default_station_id()
    sinks = []
    for url in urls:
        try:
            sinks.append(
                make_sink(
                    url, station, switch_recipe=switch_recipe, node_map=lambda: _camera_node_map(window)
                )
            )
        except AoiError as exc:
            errors.append(str(exc))
    return SinkHub(sinks, station=station), errors


def install_sinks(window: MainWindow, urls: Sequence[str] | None = None) -> SinksUi:
    """A "Sinks" dock (tabified with the window's right docks, hidden until asked for from the
    toolbar) and the hub the inference worker feeds; closed with the window."""
    hub, errors = open_hub(window, urls)
    panel = SinksPanel(hub)
    dock = QDockWidget("Sinks", window)
    dock.setObjectName("sinks_dock")
    dock.setWidget(panel)
    window.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)
    dock.hide()
    toolbar = getattr(getattr(window, "workspaces", None), "toolbar", None)
    if toolbar is not None:
        action = dock.toggleViewAction()
        action.setText("Sinks")
        toolbar.addAction(action)
    for e in errors:
        window.state.notify("error", f"sinks: {e}")
    if len(hub):
        window.state.notify("info", f"verdicts go to {len(hub)} sink(s): {', '.join(hub.names)}")

    def alarm(text: str) -> None:
        if text:
            window.state.notify("error", f"ALARM — line hand-off: {text} (inspection goes on)")
        else:
            window.state.notify("info", "every sink delivers again")

    panel.alarmChanged.connect(alarm)

    def allow(what: str) -> bool:  # looked up at the click: roles may be installed after this dock
        access = getattr(window, "access", None)
        return access is None or access.allow(what)

    def record(action: str, target: str) -> None:
        access = getattr(window, "access", None)
        if access is not None:
            access.record(action, target)

    panel.guard, panel.record = allow, record
    ui = SinksUi(hub, panel, dock, errors)
    window.closed.connect(ui.shutdown)
    return ui
