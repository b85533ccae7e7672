"""The GUI-free parts of the app: the newest-frame mailbox, counters, display data, heat LUT."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from app.counters import Counters
from app.display_data import heat_to_u8, outlines, prepare, to_display8
from app.views.heat_lut import heat_lut
from app.workers.latest import LatestFrameSlot
from inspection_core.types import Defect, Frame, InspectionResult, Verdict


def _frame(i: int, shape: tuple[int, ...] = (8, 8), dtype: type = np.uint8) -> Frame:
    return Frame(np.zeros(shape, dtype), i, 0, "t")


def test_slot_keeps_newest_and_counts_the_skipped() -> None:
    slot = LatestFrameSlot()
    for i in range(5):
        slot.put(_frame(i), t_grab=float(i))
    frame, t_grab, skipped = slot.take(0.01)
    assert (frame.frame_id, t_grab, skipped) == (4, 4.0, 4)
    assert slot.take(0.01) is None
    slot.put(_frame(5))
    assert slot.take(0.01)[2] == 0
    assert slot.dropped_total == 4


def test_slot_take_wakes_on_put_and_on_close() -> None:
    slot = LatestFrameSlot()
    threading.Timer(0.05, lambda: slot.put(_frame(1))).start()
    t0 = time.perf_counter()
    got = slot.take(5.0)
    assert got is not None and time.perf_counter() - t0 < 2.0
    threading.Timer(0.05, slot.close).start()
    t0 = time.perf_counter()
    assert slot.take(5.0) is None and time.perf_counter() - t0 < 2.0


def test_counters() -> None:
    c = Counters()
    for i in range(10):
        c.add(ng=i % 5 == 0, latency_ms=10.0 + i, inference_ms=5.0, skipped=1, now=100.0 + i * 0.1)
    s = c.snapshot()
    assert (s.inspected, s.ok, s.ng, s.dropped) == (10, 8, 2, 10)
    assert s.yield_pct == pytest.approx(80.0)
    assert s.latency_ms_median == pytest.approx(14.5)
    assert c.fps(now=101.0) == pytest.approx(10.0)
    c.reset()
    assert c.snapshot().inspected == 0 and np.isnan(c.snapshot().yield_pct)


def test_display8_fixed_levels() -> None:
    img16 = np.full((4, 4), 4000, np.uint16)  # a 12-bit camera in 16 bit
    assert to_display8(img16).max() == 250
    rgba = np.zeros((4, 4, 4), np.uint8)
    assert to_display8(rgba).shape == (4, 4, 3)


def test_heat_is_downsampled_and_quantised() -> None:
    amap = np.linspace(0, 1, 2048 * 2448, dtype=np.float32).reshape(2048, 2448)
    h = heat_to_u8(amap)
    assert h.dtype == np.uint8 and max(h.shape) == 1024 and h.max() >= 254 and h.min() <= 1


def test_outlines_and_boxes_follow_the_mask() -> None:
    mask = np.zeros((32, 32), bool)
    mask[4:8, 10:20] = True
    mask[20:30, 2:5] = True
    xy = outlines(mask)
    assert np.isnan(xy).any(axis=1).sum() == 2  # two contours, each closed by a NaN row
    finite = xy[~np.isnan(xy).any(axis=1)]
    assert finite[:, 0].min() >= 2 and finite[:, 0].max() <= 20.5
    res = InspectionResult(
        1,
        np.zeros((32, 32), np.float32),
        0.9,
        Verdict.NG,
        mask,
        (Defect(1, (10, 4, 20, 8), 40, (15.0, 6.0), 0.9, 0.7),),
    )
    item = prepare(_frame(1, (32, 32)), res, t_grab=0.0, t_inspected=1.0, skipped=0)
    assert item.labels == ((10.0, 4.0, "1: 0.90 · 40 px"),) and len(item.box_xy) == 6  # its size too


def test_heat_lut_transparent_below_threshold() -> None:
    lut = heat_lut(0.5)
    assert lut.shape == (256, 4) and lut.dtype == np.uint8
    assert (lut[:127, 3] == 0).all() and (lut[128:, 3] == 255).all()
    assert not np.array_equal(lut[130, :3], lut[250, :3])  # a colour ramp above the threshold


def test_an_ng_frame_without_regions_frames_the_map_peak() -> None:
    """NG by image score with nothing above the pixel threshold: the operator still gets a box (live
    view, NG thumbnail, snapshot) and the record names the spot; OK frames and framed defects get none."""
    from app.display_data import thumbnail
    from inspection_core.render import render_overlay

    amap = np.zeros((200, 300), np.float32)
    amap[150, 40] = 0.45
    res = InspectionResult(1, amap, 0.52, Verdict.NG, np.zeros((200, 300), bool), ())
    assert res.hotspot == (40, 150) and res.summary()["hotspot"] == [40, 150]
    item = prepare(_frame(1, (200, 300)), res, t_grab=0.0, t_inspected=1.0, skipped=0)
    ((x0, y0, text),) = item.labels
    assert (x0, y0) == (30.0, 140.0) and text == "peak: 0.45"
    thumb = thumbnail(np.zeros((200, 300), np.uint8), res, side=96)
    assert (thumb == (255, 255, 0)).all(axis=2).any(), "the thumbnail frames the peak"
    over = render_overlay(np.zeros((200, 300), np.uint8), res)
    assert (over[140:161, 30:51] == (255, 255, 0)).all(axis=2).any()
    ok = InspectionResult(2, amap, 0.3, Verdict.OK, np.zeros((200, 300), bool), ())
    assert ok.hotspot is None and prepare(_frame(2, (200, 300)), ok, 0.0, 1.0, 0).labels == ()


def test_verdict_panel_says_when_an_ng_has_no_region(qtbot) -> None:  # noqa: ANN001
    from app.panels.verdict_panel import VerdictPanel
    from app.state import SessionState

    panel = VerdictPanel(SessionState())
    qtbot.addWidget(panel)
    amap = np.zeros((32, 32), np.float32)
    amap[5, 7] = 0.4
    ng = InspectionResult(3, amap, 0.51, Verdict.NG, np.zeros((32, 32), bool), ())
    panel.show_item(prepare(_frame(3, (32, 32)), ng, 0.0, 1.0, 0))
    assert panel.text == "NG" and "no region, peak boxed" in panel.score.text()
    ok = InspectionResult(4, amap, 0.2, Verdict.OK, np.zeros((32, 32), bool), ())
    panel.show_item(prepare(_frame(4, (32, 32)), ok, 0.0, 1.0, 0))
    assert panel.text == "OK" and "0 defects" in panel.score.text()


def test_an_alarm_shows_on_the_verdict_and_is_told_once_per_cause(qtbot) -> None:  # noqa: ANN001
    """A result whose model output is not a number is NG (fail closed); the operator sees why, and the
    notification area gets one error per cause, not one per frame."""
    from app.panels.verdict_panel import VerdictPanel
    from app.state import SessionState

    state = SessionState()
    panel = VerdictPanel(state)
    qtbot.addWidget(panel)
    amap = np.zeros((32, 32), np.float32)
    why = "model output is not a number"

    def bad(i: int) -> InspectionResult:
        return InspectionResult(i, amap, float("nan"), Verdict.NG, np.zeros((32, 32), bool), (), alarm=why)

    for i in range(5):
        state.show(prepare(_frame(i, (32, 32)), bad(i), 0.0, 1.0, 0))
    assert panel.text == "NG — ALARM" and why in panel.score.text()
    assert [m for lvl, m in state.notifications if lvl == "error" and why in m] == [state.notifications[0][1]]
    assert state.counters.snapshot().ng == 5
    state.show(
        prepare(
            _frame(5, (32, 32)),
            InspectionResult(5, amap, 0.1, Verdict.OK, np.zeros((32, 32), bool), ()),
            0.0,
            1.0,
            0,
        )
    )
    assert panel.text == "OK"
    state.show(prepare(_frame(6, (32, 32)), bad(6), 0.0, 1.0, 0))  # the cause came back: told again
    assert sum(why in m for _, m in state.notifications) == 2
