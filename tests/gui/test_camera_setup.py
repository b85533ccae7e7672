"""Camera first (#25): the raw view and capture with no model, the camera panel and the GenICam feature
tree on Viky's real node map and on the simulated web, and the recipe's camera settings re-applied."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtWidgets import QDockWidget

from app import sources
from app.main_window import MainWindow
from inspection_core.recipe import CameraSettings, Recipe

pytestmark = pytest.mark.gui
WAIT_MS = 60_000  # a shared 2-core machine


@pytest.fixture
def window(qtbot) -> Iterator[MainWindow]:
    w = MainWindow(device="cpu")  # no model loaded: camera first
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.close()


def _start_web(w: MainWindow, size: str = "96x64") -> None:
    w.start(f"simulated:{size}", opener=lambda: sources.open_source(f"simulated:{size}", fps=30))


def _tree_ready(qtbot, w: MainWindow) -> None:
    qtbot.waitUntil(lambda: w.camera.controller.tree is not None, timeout=WAIT_MS)


def _settled(qtbot, w: MainWindow) -> None:
    qtbot.waitUntil(lambda: w.camera.controller.pending == 0, timeout=WAIT_MS)


def test_raw_view_and_capture_without_a_model_on_the_simulated_web(qtbot, window: MainWindow) -> None:
    w = window
    assert w.inspector is None
    docks = [d for d in w.findChildren(QDockWidget) if d.objectName() == "camera_dock"]
    assert docks == [w.camera.dock]  # one Camera dock on the one control
    _start_web(w)
    qtbot.waitUntil(lambda: w.live_view.frames_drawn >= 3, timeout=WAIT_MS)
    assert w.state.current is None and w.state.counters.inspected == 0  # shown, never counted
    img = w.live_view.image_item.image
    assert img is not None and img.shape == (64, 96) and img.mean() > 20  # not black
    assert not w.live_view.heat_item.isVisible() or w.live_view.heat_item.image is None
    train = w.workspaces.train
    assert train.set_product("new-part")
    sample = train.capture.capture("good")
    assert sample is not None and Path(sample.path).is_file()
    assert train.capture.counts()[0] == 1
    w.stop()


def test_camera_panel_changes_exposure_and_gain_and_says_why_trigger_is_off(
    qtbot, window: MainWindow
) -> None:
    w = window
    _start_web(w)
    _tree_ready(qtbot, w)
    panel = w.camera.panel
    assert panel.editors["exposure_us"].isEnabled() and panel.editors["gain_db"].isEnabled()
    panel.set_value("exposure_us", 2500.0)
    panel.set_value("gain_db", 6.0)
    qtbot.waitUntil(lambda: w.camera.controller.standard["gain_db"].value == 6.0, timeout=WAIT_MS)
    assert w.camera.controller.standard["exposure_us"].value == 2500.0
    # the simulated web has no trigger and no offsets: disabled, and the reason is written there
    for key in ("trigger_mode", "trigger_source", "trigger_software", "offset_x"):
        assert not panel.editors[key].isEnabled()
        assert "SimulatedWeb has no" in panel.reasons[key].text() and not panel.reasons[key].isHidden()
    # a value the camera refuses is one line in the panel, and nothing breaks
    w.camera.controller.write("exposure_us", 5e7)
    _settled(qtbot, w)
    assert "out of range" in panel.status.text()
    w.stop()
    qtbot.waitUntil(lambda: w.camera.controller.tree is None, timeout=WAIT_MS)
    assert not panel.editors["exposure_us"].isEnabled() and "not open" in panel.title.text()


def test_recipe_camera_settings_applied_at_start_and_on_deploy(qtbot, window: MainWindow) -> None:
    w = window
    w.recipe = Recipe(name="part", model_dir="m", camera=CameraSettings(exposure_us=1234.0, gain_db=3.0))
    _start_web(w)
    _tree_ready(qtbot, w)
    std = w.camera.controller.standard
    assert (std["exposure_us"].value, std["gain_db"].value) == (1234.0, 3.0)
    # the simulated web has no offsets and no trigger: a deploy asking for a trigger says so, once
    again = Recipe(
        name="part", model_dir="m", version=2, camera=CameraSettings(gain_db=9.0, trigger_mode="On")
    )
    w.camera.apply_recipe(again)
    qtbot.waitUntil(lambda: w.camera.controller.standard["gain_db"].value == 9.0, timeout=WAIT_MS)
    assert any("trigger_mode='On' not applied" in m for _lvl, m in w.state.notifications)
    w.stop()


viky = pytest.mark.camera


@pytest.fixture(scope="module")
def viky_spec() -> str:
    vikys = [s for s in sources.list_sources() if s.kind == "genicam" and "Viky" in (s.model + s.label)]
    if not vikys:
        pytest.skip("no Viky device found (genicam wheel's viky.cti not loadable here)")
    return vikys[0].spec


@viky
def test_viky_raw_view_camera_panel_and_feature_tree(qtbot, window: MainWindow, viky_spec: str) -> None:
    w = window
    w.start(viky_spec)
    qtbot.waitUntil(lambda: w.state.raw is not None and w.live_view.frames_drawn >= 2, timeout=WAIT_MS)
    assert w.state.counters.inspected == 0 and np.asarray(w.live_view.image_item.image).max() > 0
    train = w.workspaces.train  # capture with no model, from the camera
    assert train.set_product("viky-part")
    sample = train.capture.capture("good")
    assert sample is not None and Path(sample.path).is_file()
    _tree_ready(qtbot, w)
    w.camera.dock.show()
    panel, tree, c = w.camera.panel, w.camera.tree, w.camera.controller
    # Viky has no exposure, gain, trigger or offsets: disabled, each with its reason
    for key, node in (("exposure_us", "ExposureTime"), ("gain_db", "Gain"), ("trigger_mode", "TriggerMode")):
        assert not panel.editors[key].isEnabled()
        assert panel.reasons[key].text() == f"Viky has no {node} feature"
    assert panel.editors["width"].isEnabled() and panel.editors["pixel_format"].isEnabled()
    panel.set_value("frame_rate", 50.0)
    qtbot.waitUntil(lambda: c.standard["frame_rate"].value == 50.0, timeout=WAIT_MS)
    # the full tree: search, access filter, write an RW node, execute a command, RO/NA refused with why
    tree.search.setText("ball")
    shown = tree.visible_names()
    assert {"BouncingBallSize", "FancyBallOperation"} <= set(shown) and len(shown) < len(tree.items) / 4
    for name in shown:  # by name, display name or description
        f = c.tree.find(name)
        assert "ball" in f"{f.name} {f.display_name} {f.description}".lower()
    tree.search.setText("fancy")
    assert tree.visible_names() == ["FancyBallOperation"]
    tree.search.setText("ball")
    tree.select("BouncingBallSize")
    assert tree.write_button.isEnabled() and "range 1..40" in tree.name.text()
    tree.value.setText("31")
    tree.write_selected()
    qtbot.waitUntil(
        lambda: c.tree is not None and c.tree.find("BouncingBallSize").value == 31, timeout=WAIT_MS
    )
    assert tree.selected is not None and tree.selected.name == "BouncingBallSize"  # kept across the refresh
    tree.select("ChunkModeActive")  # a boolean: True/False to pick, not text to type
    assert not tree.choices.isHidden() and tree.choices.currentText() == str(
        c.tree.find("ChunkModeActive").value
    )
    tree.select("FancyBallOperation")
    assert tree.write_button.text() == "Execute" and tree.write_button.isEnabled()
    tree.search.clear()
    tree.access.setCurrentIndex(tree.access.findData("RO"))
    shown = tree.visible_names()
    assert "PayloadSize" in shown and all(c.tree.find(n).access == "RO" for n in shown)
    tree.select("PayloadSize")
    assert not tree.write_button.isEnabled() and "read-only" in tree.detail.text()
    tree.access.setCurrentIndex(0)
    na = [f.name for f in c.tree.walk() if f.access == "NA"]  # e.g. chunk nodes while chunks are off
    assert na
    tree.select(na[0])
    assert not tree.write_button.isEnabled() and "not available now" in tree.detail.text()
    if os.environ.get("AOI_SCREENSHOTS"):  # the docs' picture of the tree, on request only
        tree.access.setCurrentIndex(0)
        tree.search.clear()
        tree.select("BouncingBallSize")
        w.camera.tabs.setCurrentIndex(1)
        w.camera.dock.resize(560, 700)
        w.camera.tabs.grab().save(str(Path(os.environ["AOI_SCREENSHOTS"]) / "camera_features_viky.png"))
        w.camera.tabs.setCurrentIndex(0)
        w.camera.tabs.grab().save(str(Path(os.environ["AOI_SCREENSHOTS"]) / "camera_panel_viky.png"))
    # a layout change while streaming (Mono8): the acquisition thread stops and restarts the stream
    panel.set_value("pixel_format", "Mono8")
    qtbot.waitUntil(lambda: w.state.raw is not None and w.state.raw.frame.image.ndim == 2, timeout=WAIT_MS)
    w.stop()
    w.camera.controller.call(lambda s: None, lambda _v: None)  # after stop: refused, not queued forever
    assert w.camera.controller.pending == 0


def test_camera_panel_screenshot(qtbot, window: MainWindow, tmp_path: Path) -> None:
    w = window
    _start_web(w)
    _tree_ready(qtbot, w)
    w.camera.panel.resize(420, 640)
    pix = w.camera.panel.grab()
    out = Path(os.environ.get("AOI_SCREENSHOTS") or tmp_path)  # docs refreshed on request only
    out.mkdir(parents=True, exist_ok=True)
    assert pix.save(str(out / "camera_panel.png")) and pix.width() > 100
    w.camera.tree.resize(520, 640)
    w.stop()


def test_deploy_reapplies_and_the_panel_saves_camera_settings_in_the_live_recipe(
    qtbot, window: MainWindow, tiny_bundle, tmp_path: Path
) -> None:
    from app import paths
    from inspection_core.recipes.store import RecipeStore

    w = window
    model = tiny_bundle.save(tmp_path / "model")
    store = RecipeStore(paths.recipes_dir())
    v1 = store.save(Recipe(name="part", model_dir=str(model), camera=CameraSettings(exposure_us=700.0)))
    _start_web(w)
    _tree_ready(qtbot, w)
    w.set_inspector(v1.build_inspector("cpu"), v1)  # a deploy while the camera runs
    qtbot.waitUntil(lambda: w.camera.controller.standard["exposure_us"].value == 700.0, timeout=WAIT_MS)
    w.camera.panel.set_value("gain_db", 4.5)
    qtbot.waitUntil(lambda: w.camera.controller.standard["gain_db"].value == 4.5, timeout=WAIT_MS)
    w.camera.panel.save_button.click()
    qtbot.waitUntil(lambda: w.recipe is not None and w.recipe.version == 2, timeout=WAIT_MS)
    saved = store.load("part")
    assert saved.version == 2 and saved.camera.gain_db == 4.5 and saved.camera.exposure_us == 700.0
    assert saved.camera.width == 96 and saved.camera.pixel_format == "Mono8"
    assert w.state.live.recipe.version == 2  # every view shows the version now live
    w.stop()
