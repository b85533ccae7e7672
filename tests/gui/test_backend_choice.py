"""The inference backend in the station (issue #27): chosen in Station settings (the engineer's, saved,
applied to the running model), by `python -m app --backend`; shown in the status bar and About; a
failed export leaves torch running and says why; recipes record the backend they were validated on."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from gui_fakes import FakeWeb

from app import paths
from app.__main__ import main as app_main
from app.main_window import MainWindow
from app.station_settings import StationSettings, load_settings
from app.tuning.session import TuningSession
from inspection_core.models import export
from inspection_core.models.backends import available_backends
from inspection_core.models.bundle import ModelBundle
from inspection_core.models.export import ExportError
from inspection_core.postprocess.settings import PostprocessSettings
from inspection_core.recipe import Recipe
from inspection_core.recipes import RecipeStore
from inspection_core.recipes.training import recipe_after_training
from inspection_core.records.audit import AuditLog
from inspection_core.runtime.roles import Role, RoleStore

pytestmark = pytest.mark.gui
WAIT_MS = 60_000
SIM = "simulated:128x128"


def _window(fake_web: FakeWeb, tiny_bundle: ModelBundle, backend: str = "torch") -> MainWindow:
    def open_it() -> FakeWeb:
        fake_web.open()
        return fake_web

    w = MainWindow(opener_for=lambda _spec: open_it, device="cpu", backend=backend)
    w.set_bundle(tiny_bundle, PostprocessSettings(image_threshold=2.0))
    w.show()
    return w


@pytest.fixture
def window(qtbot, tiny_bundle: ModelBundle, fake_web: FakeWeb) -> Iterator[MainWindow]:  # noqa: ANN001
    w = _window(fake_web, tiny_bundle)
    qtbot.waitExposed(w)
    yield w
    w.close()


def _inspects(qtbot, w: MainWindow, more: int = 2) -> None:  # noqa: ANN001
    """Wait until the worker has inspected `more` frames from now, and the window has shown as many.
    The worker's own count matters after a swap: results already queued for the GUI thread (judged by
    the previous backend) would satisfy a GUI-side count without one frame on the new backend; the
    worker reads its inspector per frame, so `more` ≥ 2 of its frames include one on the new one."""
    worker = w.inf.worker
    n, shown = worker.inspected, w.state.counters.inspected
    qtbot.waitUntil(
        lambda: worker.inspected >= n + more and w.state.counters.inspected >= shown + more,
        timeout=WAIT_MS,
    )


def test_station_settings_backend_is_saved_audited_and_moves_the_running_model(
    qtbot, window: MainWindow
) -> None:  # noqa: ANN001
    w = window
    w.start("fake")
    _inspects(qtbot, w)
    bar = w.statusBar()
    assert w.inspector.backend == "torch" and bar.backend.text() == "Backend: torch"
    w.backends.settings_action.trigger()
    dialog = w.backends.dialog
    qtbot.waitUntil(dialog.isVisible, timeout=5000)
    combo = dialog.backend
    assert [combo.itemData(i) for i in range(combo.count())] == ["auto", *available_backends()]
    assert combo.currentData() == "torch" and "now running: torch" in dialog.running.text()
    combo.setCurrentIndex(combo.findData("onnxruntime"))
    dialog.ok_button.click()
    assert load_settings().backend == "onnxruntime"  # the next start uses it
    assert bar.backend.text() == "Backend: torch (preparing ONNX Runtime…)"  # torch inspects meanwhile
    assert "preparing ONNX Runtime backend" in bar.currentMessage()
    qtbot.waitUntil(lambda: w.inf.worker.inspector.backend == "onnxruntime", timeout=WAIT_MS)
    _inspects(qtbot, w)  # the running worker inspects on it: no restart
    assert w.inspector.backend == "onnxruntime" and bar.backend.text() == "Backend: ONNX Runtime"
    assert w.state.running and not w.state.error
    (row,) = AuditLog().entries(action="change the inference backend")
    assert (row.old, row.new) == ("torch", "onnxruntime")
    w.about_action.trigger()
    qtbot.waitUntil(w.about_dialog.isVisible, timeout=5000)
    assert "inference backend onnxruntime running; installed: " in w.about_dialog.text.toPlainText()
    w.about_dialog.close()
    # back to torch: nothing to prepare, the swap is immediate
    assert w.backends.apply_settings(StationSettings(backend="torch"))
    assert w.inspector.backend == "torch" and w.inf.worker.inspector.backend == "torch"
    _inspects(qtbot, w)
    w.stop()  # commits the last rows: each says which runtime judged it, in the order they ran
    db = paths.station_home() / "records" / "inspections.sqlite"
    ran = [b for (b,) in sqlite3.connect(db).execute("SELECT backend FROM inspections ORDER BY id")]
    runs = [b for i, b in enumerate(ran) if i == 0 or b != ran[i - 1]]
    assert runs == ["torch", "onnxruntime", "torch"]


def test_the_backend_setting_is_the_engineers(qtbot, window: MainWindow) -> None:  # noqa: ANN001
    w = window
    RoleStore().set_pin(Role.ENGINEER, "2468")
    w.access.dialogs = False  # no PIN dialog: a refusal says so
    w.backends.settings_action.trigger()
    assert w.backends.dialog is None
    assert any("change the inference backend" in m for lvl, m in w.state.notifications if lvl == "warning")
    assert w.access.login(Role.ENGINEER, "2468")
    w.backends.settings_action.trigger()
    assert w.backends.dialog is not None
    w.backends.dialog.reject()


def test_a_model_that_cannot_be_exported_stays_on_torch_and_says_why(
    qtbot, tiny_bundle: ModelBundle, fake_web: FakeWeb, monkeypatch: pytest.MonkeyPatch
) -> None:  # noqa: ANN001
    def cannot(*_a: object, **_kw: object) -> bytes:
        raise ExportError("model 'patchcore' could not be exported to ONNX: stand-in trace failure")

    monkeypatch.setattr(export, "export_onnx", cannot)
    w = _window(fake_web, tiny_bundle, backend="onnxruntime")  # as `python -m app --backend onnxruntime`
    w.start("fake")
    _inspects(qtbot, w)  # torch inspects while the export is tried
    qtbot.waitUntil(lambda: not w.backends.pending and w.backends.job is None, timeout=WAIT_MS)
    warnings = [m for lvl, m in w.state.notifications if lvl == "warning"]
    assert any("ONNX Runtime backend not used" in m and "stand-in trace failure" in m for m in warnings)
    assert any(m.endswith("inspecting with torch") for m in warnings)
    assert "stand-in trace failure" in w.statusBar().currentMessage()
    assert w.inspector.backend == "torch" and w.statusBar().backend.text() == "Backend: torch"
    _inspects(qtbot, w)  # nothing lost: it goes on inspecting
    assert not w.state.error
    w.close()


def test_a_model_that_does_not_export_is_refused_at_once_and_auto_keeps_it_on_torch(
    qtbot, tiny_bundle: ModelBundle, fake_web: FakeWeb, monkeypatch: pytest.MonkeyPatch
) -> None:  # noqa: ANN001
    monkeypatch.setitem(export.NOT_EXPORTABLE, "patchcore", "a stand-in reason (as for sidn)")
    w = _window(fake_web, tiny_bundle, backend="onnxruntime")
    assert w.backends.job is None and not w.backends.pending  # known before any export: no thread
    (warning,) = [m for lvl, m in w.state.notifications if lvl == "warning"]
    assert "cannot be exported to ONNX: a stand-in reason" in warning and warning.endswith("with torch")
    assert w.inspector.backend == "torch" and w.statusBar().backend.text() == "Backend: torch"
    w.backends.set_choice("auto")  # auto runs torch where the model does not export: nothing to say
    assert w.inspector.backend == "torch" and w.backends.job is None
    assert [lvl for lvl, _m in w.state.notifications].count("warning") == 1
    w.close()


@pytest.fixture
def _drop_log_file() -> Iterator[None]:
    """`python -m app` run in-process sets the station's log file on the root logger: undo it."""
    root = logging.getLogger()
    level = root.level
    yield
    root.setLevel(level)
    for h in [h for h in root.handlers if getattr(h, "aoi_station", False)]:
        root.removeHandler(h)
        h.close()


def test_headless_backend_onnxruntime_inspects_records_and_notes_the_recipes_backend(
    qapp, tmp_path: Path, tiny_bundle: ModelBundle, _drop_log_file: None
) -> None:  # noqa: ANN001
    with pytest.raises(SystemExit):  # a backend that is not installed: a usage error, no window
        app_main(["--backend", "tensorrt-please", "--run-for", "1"])
    model = tiny_bundle.save(tmp_path / "model")
    store = RecipeStore(paths.recipes_dir())
    store.save(
        Recipe("Tile", str(model), postprocess=PostprocessSettings(image_threshold=2.0), backend="torch")
    )
    report = tmp_path / "run.json"
    args = ["--device", "cpu", "--recipe", "Tile", "--source", SIM, "--backend", "onnxruntime"]
    rc = app_main([*args, "--run-for", "0.5", "--max-wait", "60", "--report", str(report)])
    rep = json.loads(report.read_text())
    assert rc == 0 and rep["inspected"] > 0 and rep["model_error"] is None
    assert rep["backend"] == "onnxruntime" and rep["backend_choice"] == "onnxruntime"
    notes = rep["notifications"]
    assert any("preparing ONNX Runtime backend" in n for n in notes)
    assert any("recipe Tile v1 was validated with torch; it runs on ONNX Runtime" in n for n in notes)
    assert (store.load("Tile").model_path / "model.onnx").is_file()  # exported once, beside the model
    db = paths.station_home() / "records" / "inspections.sqlite"
    (rows,) = sqlite3.connect(db).execute("SELECT COUNT(*) FROM inspections").fetchone()
    assert rows >= rep["inspected"]
    (last,) = sqlite3.connect(db).execute("SELECT backend FROM inspections ORDER BY id DESC").fetchone()
    assert last == "onnxruntime"  # the rows say which runtime judged the parts
    assert load_settings().backend == "auto"  # --backend is for this run: the setting is unchanged


def test_apply_in_tune_records_the_backend_the_thresholds_were_seen_on(
    tmp_path: Path, tiny_bundle: ModelBundle
) -> None:
    store = RecipeStore(tmp_path / "recipes")
    recipe = store.save(Recipe("Tile", str(tiny_bundle.save(tmp_path / "m")), backend="torch"))
    session = TuningSession(recipe=recipe, store=store)
    session.backend_of = lambda: "onnxruntime"
    session.update(image_threshold=0.6)
    session.apply()
    saved = store.load("Tile")
    assert saved.version == 2 and saved.backend == "onnxruntime" and session.recipe.backend == "onnxruntime"
    session.restore()  # the old thresholds back: their backend is not known better than the recipe's
    assert store.load("Tile").backend == "onnxruntime"
    # a retrain (Train's Deploy, `aoi train --recipe`): thresholds back to the calibration, run on torch
    assert recipe_after_training(store, "Tile", tiny_bundle.save(tmp_path / "m2")).backend == "torch"


def test_the_worker_copies_the_live_model_only_when_it_must_export(
    tiny_bundle: ModelBundle, tmp_path: Path
) -> None:
    from app.workers.backend import BackendWorker
    from inspection_core.models import load_bundle

    tiny_bundle.save(tmp_path / "m")
    live = load_bundle(tmp_path / "m")
    got: list[ModelBundle] = []

    def prepare() -> ModelBundle:
        worker = BackendWorker(live, "onnxruntime")
        worker.done.connect(lambda _src, prepared, _s: got.append(prepared))
        worker.failed.connect(lambda _src, msg: pytest.fail(msg))
        worker.run()  # the job itself, on this thread
        return got.pop()

    first = prepare()  # no export beside the model yet: traced on a copy, never on the live model
    assert first.backend == "onnxruntime" and first.model is not live.model
    assert export.current_onnx(tmp_path / "m", live.model.image_size) is not None
    second = prepare()  # a current export is loaded: the live model is shared, its memory not doubled
    assert second.backend == "onnxruntime" and second.model is live.model
