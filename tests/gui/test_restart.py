"""A restarted station resumes: `--recipe NAME[@VERSION]`, the last deployed recipe and source, the
window layout; a recipe that fails to load is an error state and a timed run's non-zero exit."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from app import paths
from app.__main__ import EXIT_NO_MODEL, LOG_NAME, setup_log_file
from app.__main__ import main as app_main
from app.main_window import MainWindow
from app.state import SessionState
from inspection_core.models.bundle import ModelBundle
from inspection_core.postprocess.settings import PostprocessSettings
from inspection_core.recipe import Recipe
from inspection_core.recipes import RecipeStore
from inspection_core.recipes.store import default_root

pytestmark = pytest.mark.gui
SIM = "simulated:128x128"


@pytest.fixture(autouse=True)
def _drop_log_file():
    """`python -m app` run in-process sets the station's log file on the root logger: undo it."""
    root = logging.getLogger()
    level = root.level
    yield
    root.setLevel(level)
    for h in [h for h in root.handlers if getattr(h, "aoi_station", False)]:
        root.removeHandler(h)
        h.close()


def _save_recipe(tmp_path: Path, bundle: ModelBundle, threshold: float) -> Recipe:
    model = bundle.save(tmp_path / f"model-{threshold}")
    recipe = Recipe("Tile", str(model), postprocess=PostprocessSettings(image_threshold=threshold))
    return RecipeStore(paths.recipes_dir()).save(recipe)


def _run(tmp_path: Path, name: str, *args: str) -> tuple[int, dict]:
    report = tmp_path / f"{name}.json"
    rc = app_main(["--device", "cpu", "--run-for", "0.3", "--max-wait", "60", "--report", str(report), *args])
    return rc, json.loads(report.read_text())


def test_recipe_flag_inspects_with_it_and_the_next_start_resumes_it(
    qapp, tmp_path: Path, tiny_bundle: ModelBundle
) -> None:  # noqa: ANN001
    _save_recipe(tmp_path, tiny_bundle, 0.7)
    _save_recipe(tmp_path, tiny_bundle, 0.9)  # version 2: latest
    rc, first = _run(tmp_path, "first", "--recipe", "Tile@1", "--source", SIM)
    assert rc == 0 and first["inspected"] > 0
    assert first["recipe"] == "Tile@1" and first["source"] == SIM
    assert json.loads(paths.last_session_file().read_text()) == {"recipe": "Tile@1", "source": SIM}
    rc, again = _run(tmp_path, "again")  # no --recipe/--model/--source: the last ones
    assert rc == 0 and again["inspected"] > 0
    assert again["recipe"] == "Tile@1" and again["source"] == SIM
    assert any("resuming Tile@1" in n for n in again["notifications"])


def test_window_loads_a_recipes_thresholds_and_latest_version(
    qtbot, tmp_path: Path, tiny_bundle: ModelBundle
) -> None:  # noqa: ANN001
    _save_recipe(tmp_path, tiny_bundle, 0.7)
    _save_recipe(tmp_path, tiny_bundle, 0.9)
    w = MainWindow(device="cpu")
    assert w.workspaces.train.store.root == default_root()  # the CLI's store, in the station home
    assert w.load_recipe("Tile")
    assert w.recipe is not None and w.recipe.version == 2
    assert w.settings.image_threshold == pytest.approx(0.9) and w.state.image_threshold == pytest.approx(0.9)
    assert w.load_recipe("Tile@1") and w.settings.image_threshold == pytest.approx(0.7)
    assert w.last_session()["recipe"] == "Tile@1"
    w.close()


def test_a_recipe_that_fails_to_load_is_an_error_and_a_timed_run_exits_non_zero(
    qapp, tmp_path: Path, capsys
) -> None:  # noqa: ANN001
    rc = app_main(["--device", "cpu", "--recipe", "Nope@3", "--run-for", "1"])
    err = capsys.readouterr().err
    assert rc == EXIT_NO_MODEL and "cannot load recipe Nope@3" in err and "no recipe named 'Nope'" in err
    assert "ERROR app.state" in (paths.log_dir() / LOG_NAME).read_text()  # the same reason, logged
    # a remembered recipe that is gone by the next start: the same, not a silent demo
    paths.last_session_file().write_text(json.dumps({"recipe": "Gone@2", "source": SIM}))
    rc = app_main(["--device", "cpu", "--run-for", "1"])
    assert rc == EXIT_NO_MODEL and "cannot load recipe Gone@2" in capsys.readouterr().err


def test_window_layout_survives_a_restart(qtbot) -> None:  # noqa: ANN001
    from PySide6.QtCore import Qt

    w = MainWindow(device="cpu")
    w.show()
    w.showMaximized()
    tune = w.workspaces.tune_dock
    w.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, tune)  # the engineer moved it
    tune.setHidden(False)
    w.close()
    assert (paths.station_home() / "window.ini").is_file()
    w2 = MainWindow(device="cpu")
    w2.show()
    assert w2.dockWidgetArea(w2.workspaces.tune_dock) == Qt.DockWidgetArea.LeftDockWidgetArea
    assert not w2.workspaces.tune_dock.isHidden()
    assert w2.isMaximized()
    w2.close()


def test_what_the_notification_area_shows_goes_to_the_log_file(tmp_path: Path) -> None:
    handler = setup_log_file(tmp_path / "logs")
    assert setup_log_file(tmp_path / "logs2") is not handler  # set once: a second call moves it
    state = SessionState()
    state.notify("error", "camera lost: cable pulled")
    state.notify("info", "recipe deployed: Tile v3 (patchcore)")
    logging.getLogger().handlers[-1].flush()
    text = (tmp_path / "logs2" / LOG_NAME).read_text()
    assert "ERROR app.state [MainThread] camera lost: cable pulled" in text
    assert "INFO app.state [MainThread] recipe deployed: Tile v3" in text
    assert "camera lost" not in (tmp_path / "logs" / LOG_NAME).read_text()


def _result(i: int, skipped: int = 0):  # noqa: ANN202 - InspectedFrame
    import numpy as np

    from app.display_data import prepare
    from inspection_core.types import Frame, InspectionResult, Verdict

    amap = np.zeros((16, 16), np.float32)
    result = InspectionResult(i, amap, 0.1, Verdict.OK, amap > 1, ())
    return prepare(Frame(np.zeros((16, 16), np.uint8), i, 0, "test"), result, 0.0, 1.0, skipped)


def test_verdict_says_not_inspecting_when_stopped_lost_or_without_model(qtbot) -> None:  # noqa: ANN001
    from app.panels.verdict_panel import VerdictPanel

    state = SessionState()
    panel = VerdictPanel(state)
    qtbot.addWidget(panel)
    assert panel.text == "NOT INSPECTING" and panel.verdict.property("state") == "off"
    assert "no model" in panel.score.text()
    state.set_model("tiny (custom)")
    state.set_running(True)
    state.set_camera_state("running")
    assert panel.text == "NOT INSPECTING"  # until the first new result
    state.show(_result(1))
    assert panel.text == "OK"
    state.set_running(False)  # stop: the last OK must not stay up
    assert panel.text == "NOT INSPECTING" and panel.score.text() == "stopped"
    state.set_running(True)
    state.show(_result(2))
    state.set_error("inference failed: RuntimeError: CUDA out of memory")  # every frame fails
    assert panel.text == "NOT INSPECTING" and "CUDA out of memory" in panel.score.text()
    state.show(_result(3))  # a frame got through again
    assert panel.text == "OK" and not state.error
    state.set_camera_state("lost")
    assert panel.text == "NOT INSPECTING" and panel.score.text() == "camera lost"
    state.set_model("NOT INSPECTING (no model)", ready=False)
    assert panel.text == "NOT INSPECTING" and "no model" in panel.score.text()


def test_window_shows_not_inspecting_after_stop_and_on_a_model_error(
    qtbot, tmp_path: Path, tiny_bundle: ModelBundle, fake_web
) -> None:  # noqa: ANN001
    def open_it():  # noqa: ANN202 - FakeWeb
        fake_web.open()
        return fake_web

    w = MainWindow(opener_for=lambda _spec: open_it, device="cpu")
    assert w.verdict_panel.text == "NOT INSPECTING"
    w.set_bundle(tiny_bundle, PostprocessSettings(image_threshold=2.0))  # every part OK
    w.start("fake")
    qtbot.waitUntil(lambda: w.verdict_panel.text == "OK", timeout=60_000)
    w.stop()
    assert w.verdict_panel.text == "NOT INSPECTING" and w.verdict_panel.score.text() == "stopped"
    w.close()
    w2 = MainWindow(device="cpu")
    bad = tmp_path / "bad-model"
    bad.mkdir()
    (bad / "model.json").write_text("{}")
    assert not w2.load_model(str(bad))
    assert w2.verdict_panel.text == "NOT INSPECTING" and "no model" in w2.verdict_panel.score.text()
    w2.close()


def test_dropped_frames_above_the_set_rate_raise_an_alarm_once(qtbot) -> None:  # noqa: ANN001
    from app.panels.status_bar import StationStatusBar

    state = SessionState()
    bar = StationStatusBar(state)
    qtbot.addWidget(bar)
    bar.show()
    for i in range(30):
        state.show(_result(i, skipped=2))  # 2 of 3 frames dropped, but no limit set: no alarm
    assert not state.drop_alarm and not state.notifications
    state.max_drop_rate = 0.10
    for i in range(30, 60):
        state.show(_result(i, skipped=1 if i % 2 else 0))  # one in three dropped
    alarms = [m for lvl, m in state.notifications if lvl == "error" and "not inspected" in m]
    assert state.drop_alarm and len(alarms) == 1 and "limit 10%" in alarms[0]
    assert bar.drop_alarm.isVisible()
    for i in range(60, 120):
        state.show(_result(i))  # nothing dropped any more: the alarm clears
    assert not state.drop_alarm and not bar.drop_alarm.isVisible()
    assert state.notifications[-1][0] == "info" and "frame drops back" in state.notifications[-1][1]
