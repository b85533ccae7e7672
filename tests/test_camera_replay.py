"""Replay of a recorded folder / video: order, looping, end of stream, pacing."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from inspection_core.camera import EndOfStream, open_source
from inspection_core.data.imageio import imwrite
from inspection_core.errors import CameraError

pytestmark = pytest.mark.camera


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("rec")
    for i in range(3):
        imwrite(d / f"img_{i:03d}.png", np.full((8, 10), 10 * (i + 1), np.uint8))
    (d / "notes.txt").write_text("not an image")
    return d


def test_folder_in_name_order_then_loops(folder: Path) -> None:
    src = open_source(f"replay:{folder}")
    src.start()
    values = [int(src.read().image[0, 0]) for _ in range(5)]
    assert values == [10, 20, 30, 10, 20]
    f = src.read()
    assert f.meta["file"].endswith("img_002.png") and f.frame_id == 5


def test_without_loop_ends_with_end_of_stream(folder: Path) -> None:
    src = open_source(f"replay:{folder}", loop=False)
    src.start()
    for _ in range(3):
        src.read()
    with pytest.raises(EndOfStream):
        src.read()


def test_paced_replay_and_as_fast_as_possible(folder: Path) -> None:
    src = open_source(f"replay:{folder}", fps=50.0)
    src.start()
    t = time.perf_counter()
    for _ in range(6):
        src.read()
    elapsed = time.perf_counter() - t
    assert 0.08 < elapsed < 0.3  # frames 0..5 are due at 0..100 ms
    fast = open_source(f"replay:{folder}")
    fast.start()
    t = time.perf_counter()
    for _ in range(6):
        fast.read()
    assert time.perf_counter() - t < 0.08


def test_video_file(tmp_path: Path) -> None:
    path = tmp_path / "rec.avi"
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (32, 24))
    if not vw.isOpened():
        pytest.skip("OpenCV build has no MJPG writer")
    for i in range(4):
        vw.write(np.full((24, 32, 3), (0, 0, 60 * (i + 1)), np.uint8))  # BGR: red
    vw.release()
    src = open_source(f"replay:{path}", loop=False)
    src.start()
    frames = [src.read() for _ in range(4)]
    assert frames[0].image.shape == (24, 32, 3)
    red = [int(f.image[..., 0].mean()) for f in frames]
    assert red == sorted(red) and frames[0].image[..., 2].mean() < 20
    with pytest.raises(EndOfStream):
        src.read()


def test_bad_paths_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(CameraError, match="not found"):
        open_source(f"replay:{tmp_path / 'missing'}")
    with pytest.raises(CameraError, match="no images"):
        open_source(f"replay:{tmp_path}")
    with pytest.raises(CameraError, match="needs a path"):
        open_source("replay:")
