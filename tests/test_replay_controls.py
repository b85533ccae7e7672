"""Replay for re-inspection (#25): recorded rate, pause and step, file name and total in each frame's meta."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

from inspection_core.camera import CameraTimeout, open_source
from inspection_core.camera.replay import ReplaySource
from inspection_core.data.imageio import imwrite

pytestmark = pytest.mark.camera


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    t0 = 1_700_000_000.0
    for i in range(5):
        f = tmp_path / f"img_{i:03d}.png"
        imwrite(f, np.full((8, 10), 10 * (i + 1), np.uint8))
        os.utime(f, (t0 + i * 0.04, t0 + i * 0.04))  # recorded at 25 fps
    return tmp_path


def test_recorded_rate_from_file_times_and_none_when_times_are_lost(folder: Path) -> None:
    src = open_source(f"replay:{folder}")
    assert isinstance(src, ReplaySource)
    assert src.recorded_fps == pytest.approx(25.0, rel=0.01)
    for f in folder.iterdir():
        os.utime(f, (1_700_000_000.0, 1_700_000_000.0))  # copied without times
    assert src.recorded_fps is None


def test_meta_names_file_index_and_total_then_step_back_and_forward_while_paused(folder: Path) -> None:
    src = open_source(f"replay:{folder}", fps=200.0, loop=False)
    src.start()
    first = [src.read() for _ in range(3)]
    assert [Path(f.meta["file"]).name for f in first] == ["img_000.png", "img_001.png", "img_002.png"]
    assert first[2].meta["index"] == 2 and first[2].meta["total"] == 5 and src.position == 2
    src.configure(paused=True)
    t = time.perf_counter()
    with pytest.raises(CameraTimeout, match="paused"):
        src.read(timeout_s=0.02)
    assert time.perf_counter() - t < 0.2  # paused never blocks past its timeout
    assert src.step(-1) == 1
    assert src.read().meta["index"] == 1  # one frame, at once
    with pytest.raises(CameraTimeout):
        src.read(timeout_s=0.01)  # and then paused again
    src.step(-5)  # clamped to the first
    assert src.read().meta["index"] == 0
    src.step(+1)
    assert Path(src.read().meta["file"]).name == "img_001.png"
    src.configure(paused=False)
    assert [src.read().meta["index"] for _ in range(3)] == [2, 3, 4]


def test_a_slow_consumer_gets_no_burst_and_every_frame_is_a_setting(folder: Path) -> None:
    src = open_source(f"replay:{folder}", fps=50.0, every_frame=True)
    assert src.every_frame and src.settings()["every_frame"] is True
    src.start()
    src.read()
    time.sleep(0.1)  # the consumer was busy for five periods
    src.read()
    t = time.perf_counter()
    src.read()
    assert time.perf_counter() - t > 0.012  # the next frame still waits its period (no catch-up burst)
    src.configure(every_frame=False, frame_rate=0)
    assert not src.every_frame
