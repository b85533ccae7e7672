"""The main window on the embedded demo — real simulated web, real demo model — saved for the docs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from gui_fakes import FakeWeb
from PySide6.QtWidgets import QDockWidget
from text_fit import clipped_texts

from app.layout import LIVE_SHARE
from app.main_window import MainWindow

pytestmark = [pytest.mark.gui, pytest.mark.slow]
# the README's picture is refreshed on request only (AOI_SCREENSHOTS=docs/screenshots), so a test run
# leaves the checkout clean
SHOTS = os.environ.get("AOI_SCREENSHOTS")


def test_demo_screenshot(qtbot, tmp_path: Path) -> None:
    """First start on the demo: fit (seconds), then live inspection until an NG frame is on screen."""
    w = MainWindow(device="cpu")
    w.resize(1366, 768)  # the README picture: a laptop screen (issue #25)
    w.show()
    qtbot.waitExposed(w)
    w.ensure_demo_model()
    w.start("simulated")
    qtbot.waitUntil(lambda: w.inspector is not None, timeout=300_000)
    assert (Path(os.environ["AOI_STATION_HOME"]) / "demo-model" / "model.json").is_file()
    qtbot.waitUntil(lambda: w.state.counters.ng >= 2 and w.state.counters.ok >= 2, timeout=300_000)
    w.stop()
    w.state.show(w.ng_strip.items[0], count=False)  # the newest NG frame, with its overlay
    qtbot.wait(100)
    shot = (Path(SHOTS) if SHOTS else tmp_path) / "main_window.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    assert w.grab().save(str(shot)) and shot.stat().st_size > 0
    snap = w.state.snapshot()
    assert snap.ok + snap.ng == snap.inspected
    w.close()


@pytest.mark.parametrize("screen", [(1366, 768), (1920, 1080)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_workspace_screenshots(qtbot, tmp_path: Path, tiny_bundle, fake_web, screen) -> None:  # noqa: ANN001
    """Operator view, Tune (a frozen frame) and Train beside a running live view, at a laptop's and a
    full-HD screen size: the live view keeps half the width and no text is clipped (issue #25)."""

    def opener() -> FakeWeb:
        fake_web.open()
        return fake_web

    fake_web.defects = True
    w = MainWindow(opener_for=lambda spec: opener, device="cpu")
    w.set_bundle(tiny_bundle)
    w.resize(*screen)
    w.show()
    qtbot.waitExposed(w)
    w.start("fake")
    qtbot.waitUntil(lambda: w.state.counters.inspected >= 3, timeout=60_000)
    ws = w.workspaces
    out = Path(SHOTS) if SHOTS else tmp_path
    out.mkdir(parents=True, exist_ok=True)
    try:
        for name in ("operator", "tune", "train"):
            ws.tune_dock.hide()
            ws.train_dock.hide()
            if name == "tune":
                assert ws.freeze()
            elif name == "train":
                ws.train_dock.show()
                ws.train.set_product("tile-42")
            qtbot.wait(150)  # the layout settles, a few more frames are drawn
            assert w.size().toTuple() == screen
            docks = [
                (d.objectName(), d.width(), d.minimumSizeHint().width(), d.isVisible())
                for d in w.findChildren(QDockWidget)
                if d.isVisible()
            ]
            assert w.live_view.width() >= LIVE_SHARE * screen[0] - 1, (name, docks)
            assert clipped_texts(w) == [], name
            shot = out / f"station_{name}_{screen[0]}x{screen[1]}.png"
            assert w.grab().save(str(shot)) and shot.stat().st_size > 0
            if name == "tune":  # its other tab: plots, gallery, suggestions
                ws.tune.tabs.setCurrentWidget(ws.tune.validation)
                qtbot.wait(50)
                assert clipped_texts(w) == [], "tune validation"
                ws.tune.tabs.setCurrentWidget(ws.tune.frame)
        messages = w.notifications.list  # long messages wrap: nothing is cut at the list's edge
        assert messages.wordWrap() and messages.horizontalScrollBar().maximum() == 0
    finally:
        w.stop()
        w.close()
