"""The main window on the embedded demo — real simulated web, real demo model — saved for the docs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.main_window import MainWindow

pytestmark = [pytest.mark.gui, pytest.mark.slow]
# the README's picture is refreshed on request only (AOI_SCREENSHOTS=docs/screenshots), so a test run
# leaves the checkout clean
SHOTS = os.environ.get("AOI_SCREENSHOTS")


def test_demo_screenshot(qtbot, tmp_path: Path) -> None:
    """First start on the demo: fit (seconds), then live inspection until an NG frame is on screen."""
    w = MainWindow(device="cpu")
    w.resize(1600, 1000)
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
