"""Stop and close wait for the work in flight, however slow: a running QThread is never dropped.

Dropping one aborts the whole process (`QThread: Destroyed while thread ... is still running`), which
is what a tiled 5-MP frame on a CPU (longer than the old 10-s wait) did. The stand-ins below take a
few seconds while the window's patience is cut to a fraction of that, so each test exercises the
"finishing the current frame…" path quickly; surviving the test at all is half the assertion.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from gui_fakes import FakeWeb
from PySide6.QtCore import QThread, QTimer

from app.main_window import MainWindow
from app.workers.fit import DemoFitWorker
from inspection_core.inspector import Inspector
from inspection_core.models.bundle import ModelBundle
from inspection_core.postprocess.settings import PostprocessSettings
from inspection_core.training.fit import calibrated_preprocessing

pytestmark = pytest.mark.gui
WAIT_MS = 60_000
SLOW_S = 2.0  # the frame in flight
PATIENCE_MS = 200  # the window's quiet wait before it says why it waits


class SlowInspector(Inspector):
    """A model whose frames take SLOW_S: the slow tiled frame on a CPU, in miniature."""

    def __init__(self, *a, **kw) -> None:  # noqa: ANN002, ANN003
        super().__init__(*a, **kw)
        self.in_flight = threading.Event()
        self.finished_frames = 0

    def inspect(self, frame):  # noqa: ANN001, ANN201
        self.in_flight.set()
        time.sleep(SLOW_S)
        result = super().inspect(frame)
        self.finished_frames += 1
        return result


class StuckReadWeb(FakeWeb):
    """A camera whose read blocks past its timeout once asked to (a driver call that hangs a while)."""

    def __init__(self) -> None:
        super().__init__(size=128, fps=30)
        self.block = threading.Event()
        self.blocking = threading.Event()

    def read(self, timeout_s: float = 1.0):  # noqa: ANN201
        if self.block.is_set():
            self.blocking.set()
            time.sleep(SLOW_S)
        return super().read(timeout_s)


def _window(src: FakeWeb, bundle: ModelBundle) -> tuple[MainWindow, SlowInspector]:
    def open_it() -> FakeWeb:
        src.open()
        return src

    w = MainWindow(opener_for=lambda spec: open_it, device="cpu", stop_patience_ms=PATIENCE_MS)
    settings = PostprocessSettings(image_threshold=2.0)
    slow = SlowInspector(bundle, settings, calibrated_preprocessing(bundle))
    w.set_inspector(slow)
    return w, slow


def _wait_event(qtbot, ev: threading.Event) -> None:  # noqa: ANN001
    qtbot.waitUntil(ev.is_set, timeout=WAIT_MS)


def test_stop_waits_for_the_slow_frame_in_flight(qtbot, tiny_bundle: ModelBundle) -> None:
    w, slow = _window(FakeWeb(128, fps=30), tiny_bundle)
    w.start("fake")
    _wait_event(qtbot, slow.in_flight)
    threads: list[QThread] = [w.inf.thread, w.acq.thread]
    t0 = time.perf_counter()
    w.stop()
    waited = time.perf_counter() - t0
    assert all(t.isFinished() for t in threads)  # never dropped while running
    assert not w.state.running and w.state.camera_state == "stopped"
    assert slow.finished_frames == 1 and waited > PATIENCE_MS / 1e3  # it waited for the frame ...
    assert any("finishing the current frame" in m for m in w.notifications.messages())  # ... and said so
    assert w.state.counters.inspected == 1  # the frame it finished is counted, nothing arrives later
    w.close()


def test_close_during_a_slow_frame_finishes_it_then_closes(qtbot, tiny_bundle: ModelBundle) -> None:
    w, slow = _window(FakeWeb(128, fps=30), tiny_bundle)
    w.show()
    w.start("fake")
    _wait_event(qtbot, slow.in_flight)
    inference = w.inf.thread
    closed: list[bool] = []
    w.closed.connect(lambda: closed.append(True))
    w.close()
    assert closed and inference.isFinished()
    assert slow.finished_frames == 1


def test_stop_waits_for_a_blocked_camera_read(qtbot, tiny_bundle: ModelBundle) -> None:
    src = StuckReadWeb()
    w, _slow = _window(src, tiny_bundle)
    w.inspector = None  # acquisition only: the slow part is the camera
    w.start("fake")
    qtbot.waitUntil(lambda: w.state.camera_state == "running", timeout=WAIT_MS)
    src.block.set()
    _wait_event(qtbot, src.blocking)
    acquisition = w.acq.thread
    w.stop()
    assert acquisition.isFinished()
    assert any("waiting for the camera to stop" in m for m in w.notifications.messages())
    w.close()


def test_close_during_the_demo_fit_waits_for_it(qtbot, tmp_path: Path) -> None:
    opening = threading.Event()

    def slow_open() -> FakeWeb:  # the fit's first step cannot be cancelled: an opening camera
        opening.set()
        time.sleep(SLOW_S)
        src = FakeWeb(128, fps=0)
        src.open()
        return src

    fit = DemoFitWorker(slow_open, tmp_path / "demo", n_frames=4)
    w = MainWindow(device="cpu", demo_fit=fit, stop_patience_ms=PATIENCE_MS)
    w.ensure_demo_model(tmp_path / "demo")
    _wait_event(qtbot, opening)
    thread = w.fit.thread
    w.close()
    assert thread.isFinished()
    assert not (tmp_path / "demo" / "model.json").exists()  # cancelled, nothing half-saved


def test_close_arriving_while_stop_waits_closes_once_the_frame_is_done(
    qtbot, tiny_bundle: ModelBundle
) -> None:
    w, slow = _window(FakeWeb(128, fps=30), tiny_bundle)
    w.show()
    w.start("fake")
    _wait_event(qtbot, slow.in_flight)
    closed: list[bool] = []
    w.closed.connect(lambda: closed.append(True))
    QTimer.singleShot(PATIENCE_MS + 200, w.close)  # the window manager's close, mid-wait
    QTimer.singleShot(PATIENCE_MS + 400, w.close)  # and a second one
    w.stop()
    assert not closed and slow.finished_frames == 1  # the close waited for the frame ...
    qtbot.waitUntil(lambda: bool(closed), timeout=WAIT_MS)  # ... then happened, once
    assert closed == [True]
