"""The station's resources: the stylesheet and icon load, and widgets take their look from them."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication, QLabel

from app import resources
from app.display_data import prepare
from app.panels.verdict_panel import VerdictPanel
from app.state import SessionState
from inspection_core.types import Frame, InspectionResult, Verdict


@pytest.fixture
def styled_app(qapp: QApplication) -> Iterator[QApplication]:
    """The shared QApplication with the station's look, restored afterwards for the other tests."""
    before = qapp.styleSheet()
    resources.apply(qapp)
    yield qapp
    qapp.setStyleSheet(before)


def _show(panel: VerdictPanel, frame_id: int, verdict: Verdict) -> None:
    amap = np.zeros((16, 16), np.float32)
    frame = Frame(np.zeros((16, 16), np.uint8), frame_id, 0, "test")
    result = InspectionResult(frame_id, amap, 0.6 if verdict is Verdict.NG else 0.1, verdict, amap > 1, ())
    panel.show_item(prepare(frame, result, 0.0, 1.0, 0))


def _background(label: QLabel) -> QColor:
    """The label's painted colour at its left edge, mid-height (clear of the centred text)."""
    image = label.grab().toImage()
    return image.pixelColor(4, image.height() // 2)


def test_the_resources_are_found_and_load() -> None:
    qss = resources.load_stylesheet()
    assert 'QLabel#verdict[state="NG"]' in qss and "QWidget#cameraBanner" in qss
    assert resources.resource_path(resources.DESKTOP_ENTRY).read_text().startswith("[Desktop Entry]")
    icon = resources.app_icon()
    assert not icon.isNull()
    assert {s.width() for s in icon.availableSizes()} >= set(resources.ICON_SIZES)


def test_the_verdict_colour_follows_the_verdict(qtbot, styled_app: QApplication) -> None:  # noqa: ANN001
    assert not styled_app.windowIcon().isNull()
    panel = VerdictPanel(SessionState())
    qtbot.addWidget(panel)
    panel.resize(300, 140)
    panel.show()
    qtbot.waitExposed(panel)
    idle = _background(panel.verdict)
    assert idle.name() == "#444444"

    _show(panel, 1, Verdict.NG)
    assert panel.text == "NG" and panel.verdict.property("state") == "NG"
    assert _background(panel.verdict).name() == "#c0181f"

    _show(panel, 2, Verdict.OK)
    assert panel.text == "OK"
    assert _background(panel.verdict).name() == "#1b7f2a"


def test_set_state_repolishes_only_on_change(qtbot, styled_app: QApplication) -> None:  # noqa: ANN001
    label = QLabel("Camera: lost")
    qtbot.addWidget(label)
    resources.set_state(label, "cameraState", "lost")
    assert label.objectName() == "cameraState"
    assert label.palette().color(label.foregroundRole()).name() == "#cf222e"
    resources.set_state(label, "cameraState", "running")
    assert label.palette().color(label.foregroundRole()).name() == "#1a7f37"


def test_on_windows_the_taskbar_gets_the_stations_own_app_id(monkeypatch: pytest.MonkeyPatch) -> None:
    import ctypes
    import sys
    from types import SimpleNamespace

    calls: list[str] = []
    shell32 = SimpleNamespace(SetCurrentProcessExplicitAppUserModelID=calls.append)
    monkeypatch.setattr(ctypes, "windll", SimpleNamespace(shell32=shell32), raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    assert not resources.set_windows_app_id() and not calls
    monkeypatch.setattr(sys, "platform", "win32")
    assert resources.set_windows_app_id() and calls == ["aoi-station"]


def test_the_window_icon_has_every_rendered_size(qapp: QApplication) -> None:
    sizes = {(s.width(), s.height()) for s in resources.app_icon().availableSizes()}
    assert {(n, n) for n in resources.ICON_SIZES} <= sizes
