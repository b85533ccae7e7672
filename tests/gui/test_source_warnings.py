"""Source problems that leave inspection running reach the operator as warnings, once each.

A replay file that cannot be read and a GenTL producer that cannot be loaded are skipped by the core;
the window must say so (notification area, and the producer under the camera list) and go on.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from gui_fakes import FakeWeb
from PySide6.QtCore import QCoreApplication, QEvent

from app.main_window import MainWindow
from app.sources import CAMERA_LOGGER, scan_sources
from inspection_core.camera.genicam import viky_cti
from inspection_core.data.imageio import imwrite
from inspection_core.models.bundle import ModelBundle

pytestmark = pytest.mark.gui
WAIT_MS = 60_000  # a shared 2-core machine


def _relays() -> list[logging.Handler]:
    return [h for h in logging.getLogger(CAMERA_LOGGER).handlers if type(h).__name__ == "_Relay"]


def _warnings_about(window: MainWindow, needle: str) -> list[tuple[str, str]]:
    return [(lvl, msg) for lvl, msg in window.state.notifications if needle in msg]


@pytest.fixture
def replay_with_a_corrupt_file(tmp_path: Path) -> Path:
    folder = tmp_path / "recording"
    folder.mkdir()
    web = FakeWeb(size=128, fps=0)
    web.open()
    web.start()
    for i in range(4):
        imwrite(folder / f"frame_{i:02d}.png", web.read().image)
    web.close()
    (folder / "frame_02b.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated by a full disk")
    return folder


@pytest.fixture
def window(qtbot, tiny_bundle: ModelBundle) -> Iterator[MainWindow]:
    w = MainWindow(device="cpu")  # the real opener: `replay:PATH` becomes a ReplaySource
    w.set_bundle(tiny_bundle)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.close()  # WA_DeleteOnClose: stops the workers, then the window is deleted


def test_a_corrupt_replay_file_is_a_warning_once_and_frames_are_still_inspected(
    qtbot, window: MainWindow, replay_with_a_corrupt_file: Path
) -> None:
    replay = window.camera.replay  # looping, as fast as inspected (the GUI's default is once, paced)
    replay.loop.setChecked(True)
    replay.pacing.setCurrentIndex(replay.pacing.findData("fast"))
    window.start(f"replay:{replay_with_a_corrupt_file}")
    qtbot.waitUntil(lambda: window.state.counters.inspected >= 12, timeout=WAIT_MS)  # 3 passes
    qtbot.waitUntil(lambda: bool(_warnings_about(window, "frame_02b.png")), timeout=WAIT_MS)
    window.stop()
    qtbot.waitUntil(lambda: not window.state.running, timeout=WAIT_MS)
    # a second run opens a new replay that meets the file again: still said once
    window.start(f"replay:{replay_with_a_corrupt_file}")
    done = window.state.counters.inspected
    qtbot.waitUntil(lambda: window.state.counters.inspected >= done + 4, timeout=WAIT_MS)
    window.stop()
    qtbot.waitUntil(lambda: not window.state.running, timeout=WAIT_MS)

    said = _warnings_about(window, "frame_02b.png")
    assert [lvl for lvl, _ in said] == ["warning"]
    assert "skipped frame_02b.png" in said[0][1]
    assert not [m for lvl, m in window.state.notifications if lvl == "error"]
    assert any("frame_02b.png" in line for line in window.notifications.messages())
    assert window.state.counters.inspected >= 16


def test_the_warning_relay_leaves_with_the_window(qtbot) -> None:
    before = len(_relays())
    w = MainWindow(device="cpu")
    assert len(_relays()) == before + 1
    w.close()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    qtbot.waitUntil(lambda: len(_relays()) == before, timeout=5_000)


@pytest.mark.camera
@pytest.mark.skipif(viky_cti() is None, reason="the genicam wheel's viky.cti is not installed")
def test_a_broken_producer_is_listed_under_the_cameras_and_warned_once(
    qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cti = viky_cti()
    assert cti is not None
    (tmp_path / "broken.cti").write_text("not a shared library")
    monkeypatch.setenv("GENICAM_GENTL64_PATH", os.pathsep.join([str(tmp_path), str(Path(cti).parent)]))
    infos, problems = scan_sources()
    assert len(problems) == 1 and "broken.cti" in problems[0]
    assert sum(i.kind == "genicam" for i in infos) >= 3  # the good producer's cameras stay listed

    w = MainWindow(device="cpu")
    qtbot.addWidget(w)
    panel = w.source_panel
    assert not panel.problems_label.isHidden() and "broken.cti" in panel.problems_label.text()
    specs = [panel.source_combo.itemData(i) for i in range(panel.source_combo.count())]
    assert sum(str(s).startswith("genicam:") for s in specs) >= 3
    panel.refresh_button.click()  # enumerating again meets the same producer: not said twice
    said = _warnings_about(w, "broken.cti")
    assert [lvl for lvl, _ in said] == ["warning"]

    monkeypatch.setenv("GENICAM_GENTL64_PATH", str(Path(cti).parent))
    panel.refresh_button.click()  # the vendor install is fixed: the line under the picker goes
    assert panel.problems_label.isHidden() and panel.problems == []  # qtbot closes the window
