"""The live station hands every inspected frame to its sinks (#26): N inspected → N messages, the
Sinks panel shows their counters, "Send test message" reaches every sink, a dead sink raises the alarm
and inspection goes on."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from gui_fakes import FakeWeb

from app.main_window import MainWindow
from inspection_core.models.bundle import ModelBundle
from inspection_core.postprocess.settings import PostprocessSettings

pytestmark = pytest.mark.gui
WAIT_MS = 60_000


@pytest.fixture
def make_window(qtbot, tiny_bundle: ModelBundle, fake_web: FakeWeb) -> Iterator:
    made: list[MainWindow] = []

    def make(urls: list[str]) -> MainWindow:
        def opener(spec: str):  # noqa: ANN202
            def open_it() -> FakeWeb:
                fake_web.open()
                return fake_web

            return open_it

        w = MainWindow(opener_for=opener, device="cpu", sink_urls=urls)
        w.set_bundle(tiny_bundle, PostprocessSettings(image_threshold=2.0))
        w.show()
        qtbot.waitExposed(w)
        made.append(w)
        return w

    yield make
    for w in made:
        w.close()


def test_every_inspected_frame_reaches_the_sinks(qtbot, make_window, tmp_path: Path) -> None:
    from _mqtt_broker import free_port

    out = tmp_path / "out"
    dead = f"http://127.0.0.1:{free_port()}/nobody"  # nothing listens: refused at once
    window = make_window([f"folder:{out}", dead])
    window.sinks.hub.runners[1].backoff_s = (0.01, 0.05)
    panel = window.sinks.panel
    window.start("fake")
    qtbot.waitUntil(lambda: window.state.counters.inspected >= 5, timeout=WAIT_MS)
    worker = window.inf.worker  # type: ignore[union-attr]
    qtbot.waitUntil(lambda: "failing" in panel.alarm_label.text(), timeout=10_000)
    assert any("ALARM — line hand-off" in m for _, m in window.state.notifications)
    window.stop()
    n = worker.inspected
    qtbot.waitUntil(lambda: window.sinks.hub.stats()[0].sent == n, timeout=10_000)
    files = sorted(out.glob("*.json"))
    assert len(files) == n  # every inspected frame, none lost, while the other sink was dead
    msg = json.loads(files[0].read_text())
    assert msg["source"] == "fake" and msg["image_threshold"] == 2.0 and msg["verdict"] in ("OK", "NG")
    panel.refresh()
    assert panel.table.rowCount() == 2 and panel.table.item(0, 1).text() == "connected"
    assert panel.table.item(1, 1).text() == "failing"
    panel.test_timeout_s = 1.0
    panel.send_test()
    qtbot.waitUntil(lambda: "folder:" in panel.test_result.text(), timeout=10_000)
    assert f"folder:{out}: sent" in panel.test_result.text()
    assert "ConnectionRefusedError" in panel.test_result.text()
    assert list(out.glob("*_test.json"))


def test_no_sinks_no_threads(qtbot, make_window) -> None:
    window = make_window([])
    assert len(window.sinks.hub) == 0 and window.sinks.panel.empty_label.isVisibleTo(window.sinks.panel)


def test_headless_station_takes_repeatable_sinks() -> None:
    from app.__main__ import build_parser

    args = build_parser().parse_args(["--sink", "folder:/tmp/x", "--sink", "mqtt://127.0.0.1:1883/aoi"])
    assert args.sink == ["folder:/tmp/x", "mqtt://127.0.0.1:1883/aoi"]
    assert build_parser().parse_args([]).sink is None  # None: the station's sinks.json


def test_test_message_needs_the_engineer_once_roles_are_on(qtbot, make_window, tmp_path: Path) -> None:
    from PySide6.QtWidgets import QApplication, QDialogButtonBox

    from inspection_core.records.audit import AuditLog
    from inspection_core.runtime.roles import Role, RoleStore

    out = tmp_path / "out"
    window = make_window([f"folder:{out}"])
    panel = window.sinks.panel
    RoleStore().set_pin(Role.ENGINEER, "2468")
    pins = ["", "2468"]  # cancelled, then the engineer's PIN

    def answer_login() -> None:
        dlg = QApplication.activeModalWidget()
        if dlg is None:
            qtbot.wait(10)
            QApplication.processEvents()
            return answer_login_later()
        pin = pins.pop(0)
        if not pin:
            dlg.reject()
            return None
        dlg.role.setCurrentIndex(dlg.role.findData(Role.ENGINEER))
        dlg.pin.setText(pin)
        dlg.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
        return None

    def answer_login_later() -> None:
        from PySide6.QtCore import QTimer

        QTimer.singleShot(10, answer_login)

    answer_login_later()
    panel.send_test()  # refused: nothing reaches the line
    assert not panel.testing and not list(out.glob("*_test.json"))
    assert not AuditLog().entries(action="send test message")
    answer_login_later()
    panel.send_test()
    qtbot.waitUntil(lambda: "sent" in panel.test_result.text(), timeout=10_000)
    assert list(out.glob("*_test.json"))
    (row,) = AuditLog().entries(action="send test message")
    assert (row.target, row.role) == (f"folder:{out}", "engineer")
