"""Tune and Train in the operator's window: freeze → tune → apply reaches live inspection; capture from
the live view, train, deploy without stopping acquisition, and the live results come from the recipe."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from gui_fakes import FakeWeb
from PySide6.QtWidgets import QApplication

from app.main_window import MainWindow
from app.training.integration import Workspaces, install_workspaces
from inspection_core.models.bundle import ModelBundle
from inspection_core.postprocess.settings import PostprocessSettings
from inspection_core.recipes import RecipeStore

pytestmark = pytest.mark.gui
WAIT_MS = 60_000
SHOTS = os.environ.get("AOI_SCREENSHOTS")


@pytest.fixture
def window(
    qtbot, tiny_bundle: ModelBundle, fake_web: FakeWeb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[MainWindow, Workspaces]]:  # noqa: ANN001
    monkeypatch.setenv("AOI_RECIPES_DIR", str(tmp_path / "recipes"))

    def opener() -> FakeWeb:
        fake_web.open()
        return fake_web

    w = MainWindow(opener_for=lambda spec: opener, device="cpu")
    ws = getattr(w, "workspaces", None) or install_workspaces(w)
    w.set_bundle(tiny_bundle, PostprocessSettings(image_threshold=2.0))
    w.show()
    qtbot.waitExposed(w)
    yield w, ws
    w.close()


def _form_tiny(ws: Workspaces) -> None:
    for k, v in (("image_size", (64, 64)), ("coreset_size", 200), ("max_patches", 5000)):
        ws.train.form.set_option(k, v)


def test_freeze_tune_apply_reaches_live(qtbot, window) -> None:  # noqa: ANN001
    w, ws = window
    assert not ws.freeze()  # nothing shown yet: a warning, no crash
    w.start("fake")
    qtbot.waitUntil(lambda: w.state.current is not None, timeout=WAIT_MS)
    assert ws.freeze() and ws.tune_dock.isVisible() and ws.tune.frame.result is not None
    assert ws.tune.session.settings.image_threshold == 2.0  # starts from the live settings
    ws.tune.frame.controls.image.setValue(3.5)
    assert w.settings.image_threshold == 2.0  # trying is not applying
    assert ws.tune.apply()
    assert w.settings.image_threshold == 3.5 and w.inspector.settings.image_threshold == 3.5
    assert w.state.image_threshold == 3.5 and w.state.running
    assert ws.tune.restore() and w.settings.image_threshold == 2.0


def test_capture_train_deploy_from_the_live_view(qtbot, window, tmp_path: Path) -> None:  # noqa: ANN001
    w, ws = window
    train = ws.train
    train.min_good = 6
    assert train.set_product("fake-web")
    _form_tiny(ws)
    w.start("fake")
    for _ in range(8):  # capture 8 different live frames with the G action
        n = w.live_view.frames_drawn
        qtbot.waitUntil(lambda n=n: w.live_view.frames_drawn > n, timeout=WAIT_MS)
        ws.toolbar.actions()[3].trigger()
    assert train.capture.counts() == (8, 0)
    ids = [s.meta["frame_id"] for s in train.capture.samples.list("good")]
    assert len(set(ids)) == 8
    with qtbot.waitSignal(train.trained, timeout=120_000):
        assert train.start_training()
    qtbot.waitUntil(lambda: not train.task.is_running(), timeout=10_000)
    drawn = w.live_view.frames_drawn
    recipe = train.deploy()
    assert recipe is not None and w.state.running  # acquisition never stopped
    assert w.bundle is train.result.bundle and w.inspector.bundle is train.result.bundle
    assert w.inf.worker.inspector is w.inspector
    qtbot.waitUntil(lambda: w.live_view.frames_drawn > drawn + 2, timeout=WAIT_MS)
    item = w.state.current
    expected = RecipeStore(tmp_path / "recipes").load("fake-web").build_inspector().inspect(item.frame)
    assert item.result.raw_score == pytest.approx(expected.raw_score, rel=1e-4)
    assert ws.tune.session.recipe == recipe  # tuning now edits the deployed recipe
    if SHOTS:
        ws.train_dock.show()
        w.resize(1900, 1000)
        QApplication.processEvents()
        w.grab().save(str(Path(SHOTS) / "main_window_train_dock.png"))
