"""Replay for re-inspection (#25): paced, once, every image inspected exactly once, the file name shown,
pause and step forward/back — through the real window, replay source and workers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from gui_fakes import FakeWeb

from app.main_window import MainWindow
from app.panels.replay_panel import ReplayOptions
from inspection_core.data.imageio import imwrite
from inspection_core.models.bundle import ModelBundle

pytestmark = pytest.mark.gui
WAIT_MS = 60_000  # a shared 2-core machine
N = 8


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("recording")
    web = FakeWeb(size=128, fps=0)
    web.open()
    web.start()
    for i in range(N):
        imwrite(folder / f"frame_{i:02d}.png", web.read().image)
    web.close()
    return folder


@pytest.fixture
def window(qtbot) -> Iterator[MainWindow]:
    w = MainWindow(device="cpu")
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.close()


def test_paced_once_every_image_inspected_once_with_its_file_name(
    qtbot, window: MainWindow, recording: Path, tiny_bundle: ModelBundle
) -> None:
    w = window
    w.set_bundle(tiny_bundle)
    panel = w.camera.replay
    panel.pacing.setCurrentIndex(panel.pacing.findData("fixed"))
    panel.fps.setValue(20.0)
    assert panel.options == ReplayOptions(pacing="fixed", fps=20.0, loop=False, every_frame=True)
    t = time.perf_counter()
    w.start(f"replay:{recording}")
    qtbot.waitUntil(lambda: not w.state.running, timeout=WAIT_MS)  # played once, then stopped
    elapsed = time.perf_counter() - t
    snap = w.state.snapshot()
    assert snap.inspected == N and snap.dropped == 0 and w.slot.dropped_total == 0
    assert elapsed >= (N - 1) / 20.0  # paced, not as fast as possible
    assert panel.file_label.text() == f"frame_{N - 1:02d}.png ({N} / {N})"
    assert w.camera.dock.isVisible()  # a replay opens its controls
    assert any("end of recording" in m for _lvl, m in w.state.notifications)


def test_pause_and_step_show_the_previous_and_next_file(qtbot, window: MainWindow, recording: Path) -> None:
    w = window  # no model: raw frames, the quickest replay
    panel = w.camera.replay
    panel.loop.setChecked(True)
    panel.pacing.setCurrentIndex(panel.pacing.findData("fixed"))
    panel.fps.setValue(30.0)
    w.start(f"replay:{recording}")
    qtbot.waitUntil(lambda: w.camera.controller.kind == "replay" and w.state.raw is not None, timeout=WAIT_MS)
    assert panel.forward_button.isEnabled()
    panel.set_paused(True)
    qtbot.waitUntil(lambda: w.camera.controller.pending == 0, timeout=WAIT_MS)

    def shown() -> int:
        return int(w.state.raw.frame.meta["index"])

    qtbot.wait(150)  # let a frame in flight land
    at = shown()
    panel.step(-1)
    qtbot.waitUntil(lambda: shown() == max(at - 1, 0), timeout=WAIT_MS)
    assert panel.file_label.text().startswith(f"frame_{max(at - 1, 0):02d}.png")
    panel.forward_button.click()
    qtbot.waitUntil(lambda: shown() == max(at - 1, 0) + 1, timeout=WAIT_MS)
    qtbot.wait(200)
    assert shown() == max(at - 1, 0) + 1  # paused: no frame after the step
    assert panel.pause_button.text() == "Play"
    w.stop()
