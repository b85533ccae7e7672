"""The operator's window end to end on a stand-in camera: counters, verdicts, NG strip, loss, keys."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from gui_fakes import FakeWeb
from PySide6.QtCore import Qt

from app.main_window import MainWindow
from inspection_core.inspector import Inspector
from inspection_core.models.bundle import ModelBundle
from inspection_core.postprocess.settings import PostprocessSettings

pytestmark = pytest.mark.gui
WAIT_MS = 60_000  # generous: the CI box is a shared 2-core machine
# The tiny stand-in model is calibrated on 6 frames, so its threshold is tight (a few good frames
# score 0.5-1.0); the injected square scores ~20. The tests use a threshold between the two.
SETTINGS = PostprocessSettings(image_threshold=2.0)


def _opener(src: FakeWeb):
    def open_it() -> FakeWeb:
        src.open()
        return src

    return open_it


@pytest.fixture
def window(qtbot, tiny_bundle: ModelBundle, fake_web: FakeWeb) -> Iterator[MainWindow]:
    w = MainWindow(opener_for=lambda spec: _opener(fake_web), device="cpu")
    w.set_bundle(tiny_bundle, SETTINGS)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.close()  # WA_DeleteOnClose: stops the workers, then the window is deleted


def test_counts_add_up_after_30_frames(qtbot, window: MainWindow) -> None:
    window.start("fake")
    qtbot.waitUntil(lambda: window.state.counters.inspected >= 30, timeout=WAIT_MS)
    window.stop()
    snap = window.state.snapshot()
    assert snap.ok + snap.ng == snap.inspected >= 30
    assert snap.ng == 0  # good frames only: the calibrated thresholds must not reject them
    assert snap.latency_ms_median > 0 and snap.latency_ms_p95 >= snap.latency_ms_median
    assert snap.fps > 0
    assert window.counters_panel.values["inspected"].text() == str(snap.inspected)
    assert not window.state.running and window.state.camera_state == "stopped"
    assert window.live_view.frames_drawn >= 1


def test_verdict_follows_injected_defects_and_ng_strip_fills(
    qtbot, window: MainWindow, fake_web: FakeWeb
) -> None:
    window.start("fake")
    qtbot.waitUntil(lambda: window.verdict_panel.text == "OK", timeout=WAIT_MS)
    fake_web.defects = True
    qtbot.waitUntil(lambda: window.verdict_panel.text == "NG", timeout=WAIT_MS)
    qtbot.waitUntil(lambda: window.ng_strip.count() >= 2, timeout=WAIT_MS)
    cur = window.state.current
    assert cur is not None and cur.result.is_ng and len(cur.outline_xy) > 0 and len(cur.box_xy) > 0
    # the found region overlaps the injected one
    assert (cur.result.mask & cur.frame.meta["defect_mask"]).any()
    fake_web.defects = False
    qtbot.waitUntil(lambda: window.verdict_panel.text == "OK", timeout=WAIT_MS)
    window.stop()
    inspected = window.state.counters.inspected
    # clicking a thumbnail re-shows that NG frame without counting it again
    picked = window.ng_strip.items[1]
    rect = window.ng_strip.visualItemRect(window.ng_strip.item(1))
    qtbot.mouseClick(window.ng_strip.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert window.state.current is picked
    assert window.verdict_panel.text == "NG"
    assert window.state.counters.inspected == inspected


def test_lost_camera_shows_banner_and_reconnects(qtbot, window: MainWindow, fake_web: FakeWeb) -> None:
    window.start("fake")
    qtbot.waitUntil(lambda: window.state.counters.inspected >= 2, timeout=WAIT_MS)
    fake_web.lose()
    qtbot.waitUntil(lambda: window.state.camera_state == "lost", timeout=WAIT_MS)
    assert not window.state.running
    assert window.notifications.banner.isVisibleTo(window)
    assert any("lost" in m for m in window.notifications.messages())
    before = window.state.counters.inspected
    qtbot.mouseClick(window.notifications.reconnect_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.state.counters.inspected >= before + 3, timeout=WAIT_MS)
    assert window.state.camera_state == "running" and fake_web.opens == 2
    assert not window.notifications.banner.isVisibleTo(window)


class _Broken(Inspector):
    def inspect(self, frame):  # noqa: ANN001, ANN201
        raise RuntimeError("model exploded")


def test_worker_errors_reach_the_notification_area(
    qtbot, window: MainWindow, tiny_bundle: ModelBundle
) -> None:
    window.inspector = None
    window.start("fake")
    window.inf.worker.set_inspector(_Broken(tiny_bundle))
    qtbot.waitUntil(
        lambda: any("model exploded" in m for m in window.notifications.messages()), timeout=WAIT_MS
    )
    assert window.state.running  # an inference error is reported, acquisition goes on
    n_msgs = len(window.notifications.messages())
    qtbot.wait(300)
    assert len(window.notifications.messages()) == n_msgs  # rate-limited, not one per frame


def test_source_that_cannot_open_is_reported(qtbot, tiny_bundle: ModelBundle) -> None:
    from inspection_core.errors import CameraError

    def bad() -> FakeWeb:
        raise CameraError("no such camera: XYZ")

    w = MainWindow(opener_for=lambda spec: bad, device="cpu")
    w.set_bundle(tiny_bundle)
    w.start("genicam:XYZ")
    qtbot.waitUntil(lambda: not w.state.running, timeout=WAIT_MS)
    assert any("no such camera: XYZ" in m for m in w.notifications.messages())
    w.close()


def test_keyboard_and_view_controls(qtbot, window: MainWindow, fake_web: FakeWeb) -> None:
    qtbot.keyClick(window, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: window.state.counters.inspected >= 1, timeout=WAIT_MS)
    assert window.state.running
    qtbot.keyClick(window, Qt.Key.Key_O)
    assert window.state.overlay.raw_only and not window.live_view.heat_item.isVisible()
    qtbot.keyClick(window, Qt.Key.Key_O)
    assert not window.state.overlay.raw_only and window.live_view.heat_item.isVisible()
    qtbot.keyClick(window, Qt.Key.Key_1)
    assert window.live_view.pixel_scale() == pytest.approx(1.0, rel=0.02)
    qtbot.keyClick(window, Qt.Key.Key_F)
    r = window.live_view.vb.viewRect()
    assert r.width() >= fake_web.size - 1 and r.height() >= fake_web.size - 1
    window.overlay_panel.checks["heatmap"].setChecked(False)
    assert not window.live_view.heat_item.isVisible()
    window.overlay_panel.opacity.setValue(20)
    assert window.live_view.heat_item.opacity() == pytest.approx(0.2)
    qtbot.keyClick(window, Qt.Key.Key_S)
    snaps = sorted((window.state.notifications[-1][1]).split(": ", 1)[1:])
    assert snaps, window.state.notifications
    window.access.confirm_stop = False  # Stop's confirmation dialog: test_roles_audit.py
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert not window.state.running


def test_snapshot_writes_raw_overlay_and_json(qtbot, window: MainWindow) -> None:
    import json

    window.start("fake")
    qtbot.waitUntil(lambda: window.state.current is not None, timeout=WAIT_MS)
    window.stop()
    files = window.snapshot()
    assert files is not None and all(p.is_file() for p in files.values())
    doc = json.loads(files["json"].read_text())
    assert doc["result"]["frame_id"] == window.state.current.frame.frame_id
    assert doc["frame"]["shape"] == [128, 128]


def test_drawn_roi_limits_inspection(qtbot, window: MainWindow) -> None:
    window.start("fake")
    qtbot.waitUntil(lambda: window.state.current is not None, timeout=WAIT_MS)
    window.toggle_roi()
    assert window.live_view.editing_roi
    window.toggle_roi()
    assert not window.live_view.editing_roi and not window.state.roi.is_full_frame
    assert not window.live_view.roi_include.path().isEmpty()
    n = window.state.counters.inspected
    qtbot.waitUntil(lambda: window.state.counters.inspected >= n + 2, timeout=WAIT_MS)
    amap = window.state.current.result.anomaly_map
    assert amap[0, 0] == 0 and amap[-1, -1] == 0  # outside the middle-half rectangle
    window.stop()


def test_a_new_gpu_model_is_warmed_up_before_its_first_live_frame(qtbot, tiny_bundle: ModelBundle) -> None:
    """The worker warms a model new to it up (announced), once per model, before inspecting frames;
    here the CPU stands in for the GPU (warm_devices)."""
    from app.workers import InferenceWorker, LatestFrameSlot, WorkerThread

    calls: list[str] = []

    class Recording(Inspector):
        def warm_up(self) -> float:
            calls.append("warm")
            return super().warm_up()

        def inspect(self, frame):  # noqa: ANN001, ANN201
            calls.append("inspect")
            return super().inspect(frame)

    slot = LatestFrameSlot()
    inf = InferenceWorker(slot, Recording(tiny_bundle), warm_devices=("cpu",))
    status: list[str] = []
    results: list = []
    inf.status.connect(status.append)
    inf.resultReady.connect(results.append)
    thread = WorkerThread(inf, "inference")
    thread.start()
    try:
        qtbot.waitUntil(lambda: len(status) == 2, timeout=WAIT_MS)
        assert status[0].startswith("preparing patchcore on cpu") and "ready" in status[1]
        src = FakeWeb(size=128, fps=0)
        src.open()
        src.start()
        slot.put(src.read())
        qtbot.waitUntil(lambda: len(results) == 1, timeout=WAIT_MS)
        inf.set_inspector(Recording(tiny_bundle))  # an ROI change: same model, nothing to prepare
        slot.put(src.read())
        qtbot.waitUntil(lambda: len(results) == 2, timeout=WAIT_MS)
        src.close()
    finally:
        slot.close()
        assert thread.stop(10_000)
    assert calls == ["warm", "inspect", "inspect"] and len(status) == 2


def test_cpu_models_are_not_warmed_up(qtbot, tiny_bundle: ModelBundle) -> None:
    from app.workers import InferenceWorker, LatestFrameSlot, WorkerThread

    slot = LatestFrameSlot()
    inf = InferenceWorker(slot, Inspector(tiny_bundle))  # default: warm up on CUDA only
    status: list[str] = []
    inf.status.connect(status.append)
    thread = WorkerThread(inf, "inference")
    thread.start()
    qtbot.wait(300)
    slot.close()
    assert thread.stop(10_000)
    assert status == []
