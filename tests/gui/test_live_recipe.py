"""Issue #25: one live-recipe state. After a deploy, an Apply, a Restore, a switch to another model or
back to a recipe, the status bar, the model picker, the recipe bar and Tune all show the same recipe,
version and model — and an Apply writes a new version of the live recipe only."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from app import paths
from app.demo import DEMO_REVISION
from app.main_window import MainWindow
from inspection_core.models.bundle import ModelBundle
from inspection_core.recipe import Recipe
from inspection_core.recipes import RecipeStore

pytestmark = pytest.mark.gui


@pytest.fixture
def station(
    qtbot,
    tiny_bundle: ModelBundle,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,  # noqa: ANN001
) -> Iterator[tuple[MainWindow, RecipeStore, Recipe]]:
    monkeypatch.setenv("AOI_RECIPES_DIR", str(tmp_path / "recipes"))
    demo = dataclasses.replace(tiny_bundle, info={**tiny_bundle.info, "demo_revision": DEMO_REVISION})
    demo.save(paths.demo_model_dir())  # a cached demo model: "switch back to the demo" takes no fit
    store = RecipeStore(tmp_path / "recipes")
    v1 = store.save(Recipe("web-gravel", str(tiny_bundle.save(tmp_path / "model"))))
    w = MainWindow(device="cpu")
    w.ensure_demo_model()
    w.show()
    qtbot.waitExposed(w)
    yield w, store, v1
    w.close()


def _views(w: MainWindow) -> dict[str, str]:
    """What each view says is live."""
    ws = w.workspaces
    return {
        "status bar": w.statusBar().model.text(),
        "model picker": w.source_panel.model_combo.currentText(),
        "recipe bar": ws.train.recipes.active.text(),
        "tune": (
            f"{ws.tune.session.recipe.name} v{ws.tune.session.recipe.version}"
            if ws.tune.session.recipe
            else "none"
        ),
    }


def _assert_live(w: MainWindow, name: str, version: int) -> None:
    views = _views(w)
    assert w.recipe is not None and (w.recipe.name, w.recipe.version) == (name, version)
    assert w.state.live.recipe_key == (name, version)
    assert f"{name} v{version}" in views["status bar"], views
    assert views["model picker"] == f"Recipe {name} v{version}", views
    assert views["recipe bar"] == f"live: {name} v{version}", views
    assert views["tune"] == f"{name} v{version}", views


def test_apply_after_deploy_shows_the_new_version_everywhere(station) -> None:  # noqa: ANN001
    w, store, v1 = station
    ws = w.workspaces
    assert w.state.live.recipe is None and _views(w)["model picker"].startswith("Demo model")
    assert ws.train.switch_to(v1)  # a deploy: the same _go_live path
    _assert_live(w, "web-gravel", 1)
    ws.tune.session.update(image_threshold=0.7)
    assert ws.tune.apply()
    assert store.versions("web-gravel") == [1, 2]
    _assert_live(w, "web-gravel", 2)
    assert w.inspector.settings.image_threshold == pytest.approx(0.7)
    assert w.state.image_threshold == pytest.approx(0.7)
    assert ws.tune.restore()  # Restore is a new version too, with the old threshold
    _assert_live(w, "web-gravel", 3)
    assert w.inspector.settings.image_threshold == pytest.approx(v1.postprocess.image_threshold)
    assert any("live recipe: web-gravel v3" in m for _lvl, m in w.state.notifications)


def test_after_deploy_the_model_picker_shows_the_recipe_and_can_switch_back(station) -> None:  # noqa: ANN001
    w, store, v1 = station
    combo = w.source_panel.model_combo
    assert w.workspaces.train.switch_to(v1)
    assert combo.currentText() == "Recipe web-gravel v1" and "Demo model" not in combo.currentText()
    assert w.load_model("demo")
    assert w.recipe is None and w.state.live.recipe is None
    assert combo.currentText().startswith("Demo model")
    assert w.workspaces.train.recipes.active.text() == "live: no recipe"
    assert combo.findData("recipe:web-gravel@1") >= 0  # the recipe stays one click away
    assert w.load_model("recipe:web-gravel@1")  # what picking that entry asks for
    _assert_live(w, "web-gravel", 1)


def test_apply_with_the_demo_model_live_writes_no_recipe(station) -> None:  # noqa: ANN001
    w, store, v1 = station
    ws = w.workspaces
    assert ws.train.switch_to(v1)
    assert w.load_model("demo")  # back to the demo model
    assert ws.tune.session.recipe is None
    ws.tune.session.update(image_threshold=0.9)
    assert ws.tune.apply()
    assert store.versions("web-gravel") == [1]  # nothing written into the unrelated recipe
    assert w.recipe is None and w.state.live.recipe is None
    assert w.inspector.settings.image_threshold == pytest.approx(0.9)
    assert "web-gravel" not in _views(w)["status bar"]
