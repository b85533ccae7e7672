"""GUI test fixtures: offscreen Qt, a tiny fitted model, a stand-in camera, and leak checks.

Like napari's test support, every GUI test FAILS when it leaves a QThread running or a top-level
widget alive: both are the bugs that crash or hang a station at shift end.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any Qt import

import gc  # noqa: E402
import weakref  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pyqtgraph as pg  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from gui_fakes import FakeWeb  # noqa: E402
from PySide6.QtCore import QCoreApplication, QEvent, QThread  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from app import resources  # noqa: E402
from app.demo import fit_on_frames  # noqa: E402
from inspection_core.inspector import Preprocessing  # noqa: E402
from inspection_core.models.bundle import ModelBundle  # noqa: E402

pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)
TINY_OPTIONS = {"image_size": (64, 64), "coreset_size": 200, "max_patches": 5000}


@pytest.fixture(scope="session", autouse=True)
def _station_look(qapp: QApplication) -> None:
    """Widgets look as in the app (stylesheet and icon from resources/), screenshots included."""
    resources.apply(qapp)


@pytest.fixture(autouse=True)
def _single_thread_torch(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    torch.set_num_threads(1)
    monkeypatch.setenv("AOI_STATION_HOME", str(tmp_path / "station"))


@pytest.fixture(autouse=True)
def fail_on_leaked_qthreads(monkeypatch: pytest.MonkeyPatch):
    """Record every QThread started during the test; fail if one is still running at its end."""
    started: list[weakref.ref[QThread]] = []
    original = QThread.start

    def tracking_start(self: QThread, *args, **kw):  # noqa: ANN202
        started.append(weakref.ref(self))
        return original(self, *args, **kw)

    monkeypatch.setattr(QThread, "start", tracking_start)
    yield
    running = [t for t in (r() for r in started) if t is not None and t.isRunning()]
    for t in running:  # stop them so the next test is not poisoned, then fail this one
        t.quit()
        t.wait(5000)
    if running:
        pytest.fail(f"test left {len(running)} QThread(s) running: {[t.objectName() for t in running]}")


def _flush_deletes() -> None:
    for _ in range(3):
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        QApplication.processEvents()
        gc.collect()


@pytest.fixture(autouse=True)
def fail_on_leaked_widgets(qapp: QApplication):
    """Fail when the test leaves a new top-level widget alive (closed windows must be deleted)."""
    _flush_deletes()
    before = {id(w) for w in QApplication.topLevelWidgets()}
    yield
    _flush_deletes()
    leaked = [w for w in QApplication.topLevelWidgets() if id(w) not in before]
    names = [f"{type(w).__name__}({w.objectName()!r})" for w in leaked]
    for w in leaked:
        w.close()
        w.deleteLater()
    _flush_deletes()
    if leaked:
        pytest.fail(f"test leaked {len(leaked)} top-level widget(s): {names}")


@pytest.fixture(scope="session")
def tiny_bundle() -> ModelBundle:
    """A 64-px PatchCore fitted once on stand-in good frames (a second or two on one CPU thread)."""
    torch.set_num_threads(1)
    src = FakeWeb(size=128, fps=0)
    src.open()
    src.start()
    frames = [src.read().image for _ in range(16)]
    src.close()
    return fit_on_frames(frames, preprocessing=Preprocessing(tile=False), options=TINY_OPTIONS, holdout=6)


@pytest.fixture
def fake_web() -> FakeWeb:
    return FakeWeb(size=128, fps=60)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
