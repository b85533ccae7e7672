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


@pytest.fixture()
def folder_with_bad_files(tmp_path: Path) -> Path:
    for i in (0, 2, 4):
        imwrite(tmp_path / f"img_{i:03d}.png", np.full((8, 10), 10 * (i + 1), np.uint8))
    (tmp_path / "img_001.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)  # corrupt
    good = (tmp_path / "img_000.png").read_bytes()
    (tmp_path / "img_003.png").write_bytes(good[: len(good) // 2])  # truncated
    return tmp_path


def test_unreadable_files_are_skipped_counted_and_read_once(
    folder_with_bad_files: Path, caplog: pytest.LogCaptureFixture
) -> None:
    src = open_source(f"replay:{folder_with_bad_files}")
    src.start()
    with caplog.at_level("WARNING", logger="inspection_core.camera.replay"):
        frames = [src.read() for _ in range(6)]
    assert [int(f.image[0, 0]) for f in frames] == [10, 30, 50, 10, 30, 50]
    assert [f.frame_id for f in frames] == list(range(6))
    assert "skipped" not in frames[0].meta and frames[0].meta["skipped_files"] == 0
    assert len(frames[1].meta["skipped"]) == 1 and "img_001.png" in frames[1].meta["skipped"][0]
    assert "img_003.png" in frames[2].meta["skipped"][0] and frames[2].meta["skipped_files"] == 2
    assert all("skipped" not in f.meta and f.meta["skipped_files"] == 2 for f in frames[3:])  # once
    assert sorted(Path(p).name for p in src.skipped) == ["img_001.png", "img_003.png"]
    assert all("\n" not in why for why in src.skipped.values())
    assert sum("skipped img_00" in r.getMessage() for r in caplog.records) == 2
    assert src.stats().delivered == 6


def test_without_loop_skips_then_ends_normally(folder_with_bad_files: Path) -> None:
    src = open_source(f"replay:{folder_with_bad_files}", loop=False)
    src.start()
    assert [int(src.read().image[0, 0]) for _ in range(3)] == [10, 30, 50]
    with pytest.raises(EndOfStream):
        src.read()


@pytest.mark.parametrize("loop", [True, False])
def test_a_folder_of_only_bad_files_is_a_clear_error(tmp_path: Path, loop: bool) -> None:
    (tmp_path / "a.png").write_bytes(b"not a png")
    (tmp_path / "b.tif").write_bytes(b"")
    src = open_source(f"replay:{tmp_path}", loop=loop)
    src.start()
    with pytest.raises(CameraError, match=r"none of the 2 images can be read \(first: .*a\.png") as exc:
        src.read()
    assert not isinstance(exc.value, EndOfStream) and "\n" not in str(exc.value)
    with pytest.raises(CameraError, match="none of the 2 images"):  # stays an error, never hangs
        src.read()
    single = open_source(f"replay:{tmp_path / 'a.png'}")
    single.start()
    with pytest.raises(CameraError, match="none of the 1 image can be read"):
        single.read()
