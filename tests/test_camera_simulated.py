"""The simulated web: geometry, ground truth, timing, settings."""

from __future__ import annotations

import time

import numpy as np
import pytest

from inspection_core.camera import CameraTimeout, SourceState, open_source
from inspection_core.camera.simulated import SimulatedWeb
from inspection_core.errors import CameraError

pytestmark = pytest.mark.camera


def _run(**kw: object) -> SimulatedWeb:
    src = SimulatedWeb(**{"width": 64, "height": 48, "fps": 0, **kw})  # type: ignore[arg-type]
    src.open()
    src.start()
    return src


def test_spec_opens_a_web_of_that_size() -> None:
    src = open_source("simulated:80x40", fps=0)
    assert src.state is SourceState.OPEN
    src.start()
    f = src.read()
    assert f.image.shape == (40, 80) and f.image.dtype == np.uint8
    assert f.meta["pixel_format"] == "Mono8" and f.meta["defect_mask"].shape == (40, 80)
    src.close()
    assert src.state is SourceState.CLOSED


def test_same_seed_same_frames_and_the_web_moves() -> None:
    a, b = _run(seed=3), _run(seed=3)
    fa, fb = [a.read() for _ in range(3)], [b.read() for _ in range(3)]
    for x, y in zip(fa, fb, strict=True):
        np.testing.assert_array_equal(x.image, y.image)
    assert not np.array_equal(fa[0].image, fa[1].image)
    assert [f.frame_id for f in fa] == [0, 1, 2]


def test_good_frames_when_defect_rate_is_zero() -> None:
    src = _run(defect_rate=0.0)
    for _ in range(20):
        f = src.read()
        assert not f.meta["defect_mask"].any() and f.meta["defect_types"] == []


def test_defects_come_with_their_ground_truth_and_scroll_with_the_web() -> None:
    src = _run(width=128, height=96, defect_rate=3.0, speed_px=24, seed=1)
    frames = [src.read() for _ in range(12)]
    assert sum(bool(f.meta["defect_types"]) for f in frames) >= 6
    seen: set[str] = set()
    for f in frames:
        mask = f.meta["defect_mask"]
        assert mask.dtype == bool and bool(mask.any()) == bool(f.meta["defect_types"])
        assert len(f.meta["defects"]) == len(f.meta["defect_types"])
        seen.update(f.meta["defect_types"])
    assert len(seen) >= 3
    for prev, nxt in zip(frames, frames[1:], strict=False):  # a defect moves up by speed_px per frame
        np.testing.assert_array_equal(nxt.meta["defect_mask"][:-24], prev.meta["defect_mask"][24:])


def test_defects_change_the_pixels_under_their_mask() -> None:
    src = _run(
        width=128, height=128, defect_rate=4.0, speed_px=128, noise_sigma=0.0, seed=2, defect_types=["hole"]
    )
    f = next(f for f in (src.read() for _ in range(10)) if f.meta["defect_mask"].sum() > 10)
    mask = f.meta["defect_mask"]
    assert np.percentile(f.image[mask], 25) < np.percentile(f.image[~mask], 5)  # holes are dark


def test_exposure_scales_brightness_and_rgb8() -> None:
    src = SimulatedWeb(width=64, height=48, fps=0, defect_rate=0, seed=5)
    src.open()
    src.configure(exposure_us=5000)
    src.start()
    dark = src.read().image.mean()
    src.configure(exposure_us=10000, pixel_format="rgb8")
    f = src.read()
    assert f.image.shape == (48, 64, 3) and f.meta["pixel_format"] == "RGB8"
    assert 1.6 < f.image[..., 0].mean() / dark < 2.4


def test_frame_rate_is_paced() -> None:
    src = _run(fps=40.0)
    src.read()
    t = time.perf_counter()
    for _ in range(8):
        src.read()
    rate = 8 / (time.perf_counter() - t)
    assert 30 < rate < 50
    assert 30 < src.stats().fps < 50


def test_slow_consumer_loses_frames_like_a_real_camera() -> None:
    src = _run(fps=100.0, queue_frames=2)
    first = src.read()
    time.sleep(0.15)
    nxt = src.read()
    assert src.stats().lost >= 8 and nxt.frame_id - first.frame_id == src.stats().lost + 1


def test_timeout_is_an_error_not_a_hang() -> None:
    src = _run(fps=1.0)
    src.read()
    t = time.perf_counter()
    with pytest.raises(CameraTimeout):
        src.read(timeout_s=0.05)
    assert time.perf_counter() - t < 0.5
    assert src.stats().timeouts == 1


def test_bad_settings_are_clear_errors() -> None:
    with pytest.raises(CameraError, match="texture"):
        SimulatedWeb(texture="marble")
    with pytest.raises(CameraError, match="defect type"):
        SimulatedWeb(defect_types=["dent"])
    src = SimulatedWeb(width=64, height=48)
    src.open()
    with pytest.raises(CameraError, match="cannot set"):
        src.configure(focus=3)
    with pytest.raises(CameraError, match="not offered"):
        src.configure(pixel_format="BayerRG8")
    with pytest.raises(CameraError, match="start"):
        src.read()
    with pytest.raises(CameraError, match="simulated:WIDTHxHEIGHT"):
        open_source("simulated:big")
