"""Training workspace (issue #6): capture 24 frames of the simulated web by clicking, train the default
model, see validation, deploy while acquisition runs, and check the live verdicts come from the recipe."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from app.training import TrainingWorkspace
from app.workers import AcquisitionWorker, InferenceWorker, LatestFrameSlot, WorkerThread
from inspection_core.camera import open_source
from inspection_core.inspector import Inspector
from inspection_core.models.bundle import ModelBundle
from inspection_core.recipes import RecipeStore

pytestmark = pytest.mark.gui
SHOTS = os.environ.get("AOI_SCREENSHOTS")
SIM = "simulated:128x128"


def _frames(n: int, defect_rate: float, seed: int) -> list:
    src = open_source(SIM, defect_rate=defect_rate, fps=0, seed=seed)
    src.start()
    try:
        return [src.read() for _ in range(n)]
    finally:
        src.stop()
        src.close()


def _tiny_form(ws: TrainingWorkspace) -> None:
    ws.form.set_option("image_size", (64, 64))
    ws.form.set_option("coreset_size", 200)
    ws.form.set_option("max_patches", 5000)


@pytest.fixture
def workspace(qtbot, tmp_path: Path):  # noqa: ANN001, ANN201
    live: dict = {}
    store = RecipeStore(tmp_path / "recipes")
    ws = TrainingWorkspace(
        store, deploy=lambda r, i: live.update(recipe=r, inspector=i), device="cpu", dialogs=False
    )
    qtbot.addWidget(ws)
    ws.resize(1500, 900)
    ws.show()
    yield ws, store, live
    ws.shutdown()


def test_capture_train_validate_deploy_switch(qtbot, workspace, tiny_bundle: ModelBundle) -> None:  # noqa: ANN001
    ws, store, live = workspace
    assert ws.form.model_name == "patchcore" and "(fast)" in ws.form.combo.currentText()
    assert not ws.capture.good_button.isEnabled()  # no product yet: nowhere to write samples
    assert ws.capture.capture("good") is None and ws.messages[-1][0] == "warning"
    assert ws.set_product("web-1")
    _tiny_form(ws)
    good = _frames(24, 0.0, seed=3)
    for i, frame in enumerate(good):
        ws.capture.on_frame(frame)
        assert ws.train_button.isEnabled() == (
            i >= 2
        )  # one to fit, one to calibrate: training says if enough
        qtbot.mouseClick(ws.capture.good_button, Qt.MouseButton.LeftButton)
    for frame in _frames(3, 3.0, seed=4):  # validation only
        ws.capture.on_frame(frame)
        ws.capture.bad_button.click()
    samples = ws.capture.samples
    assert ws.capture.counts() == (24, 3) and samples.count("good") == 24 and samples.count("defective") == 3
    assert samples.list("good")[0].meta["source"] and samples.list("good")[0].path.suffix == ".png"

    with qtbot.waitSignal(ws.trained, timeout=120_000):
        assert ws.start_training()
    qtbot.waitUntil(lambda: not ws.task.is_running(), timeout=10_000)
    res = ws.result
    # cross-fitted: all 24 good samples are in the model, each was scored once by a model without it
    assert (
        res.bundle.info["n_train"] == 24 and res.validation.n_good == 24 and res.validation.n_defective == 3
    )
    assert ws.result_view.run is res.validation and ws.result_view.confusion.confusion is not None
    text = ws.result_label.text()
    assert "24 good (each scored by a model fitted on the other 4 of 5 folds) and 3 defective" in text
    assert res.calibration.advice() in text  # whether 24 are enough, from the threshold's stability
    assert ("are enough" in text) == res.calibration.stable
    assert ws.deploy_button.isEnabled() and not store.exists("web-1")  # nothing saved before deploy
    if SHOTS:
        QApplication.processEvents()
        ws.grab().save(str(Path(SHOTS) / "training_workspace.png"))

    # live inspection keeps running while we deploy: acquisition → slot → inference → results
    slot = LatestFrameSlot()
    old = Inspector(tiny_bundle)
    inf = InferenceWorker(slot, old)
    results: list = []
    inf.resultReady.connect(results.append)
    acq = AcquisitionWorker(lambda: open_source(SIM, defect_rate=0.5, fps=20, seed=9), slot)
    errors: list = []
    inf.error.connect(errors.append)
    acq.error.connect(errors.append)
    threads = [WorkerThread(inf, "inference"), WorkerThread(acq, "acquisition")]
    for t in threads:
        t.start()
    try:
        qtbot.waitUntil(lambda: len(results) >= 2 or bool(errors), timeout=30_000)
        assert not errors
        live_recipe, n_swap = None, 0

        def swap(r, i) -> None:  # noqa: ANN001 - the main window's hook: swap between two frames
            nonlocal live_recipe, n_swap
            live_recipe = r
            inf.set_inspector(i)
            n_swap = len(results)  # at most the frame in flight now is still the old model's

        ws._deploy = swap
        recipe = ws.deploy()
        assert recipe is not None and recipe.version == 1 and live_recipe == recipe
        qtbot.waitUntil(lambda: len(results) >= n_swap + 3, timeout=30_000)
        assert acq.delivered > 0 and threads[1].is_running()  # acquisition never stopped
    finally:
        slot.close()
        for t in threads:
            assert t.stop(10_000)
    new = store.load("web-1").build_inspector()
    for k, item in enumerate(results):  # every frame wholly by the old or wholly by the new model
        by_old, by_new = old.inspect(item.frame), new.inspect(item.frame)
        if k >= n_swap + 1:
            assert item.result.raw_score == pytest.approx(by_new.raw_score, rel=1e-4)
            assert item.result.verdict == by_new.verdict
        else:
            assert item.result.raw_score == pytest.approx(by_old.raw_score, rel=1e-4) or (
                item.result.raw_score == pytest.approx(by_new.raw_score, rel=1e-4)
            )

    # one click back to an older version
    store.save(recipe.apply_thresholds(0.8, 0.7))
    ws._deploy = lambda r, i: live.update(recipe=r, inspector=i)
    ws.recipes.refresh()
    assert ws.recipes.combo.count() == 2
    assert ws.recipes.select("web-1", 1)
    ws.recipes.switch_button.click()
    assert live["recipe"].version == 1 and live["inspector"].settings.image_threshold == 0.5
    assert "web-1 v1" in ws.recipes.active.text()


def test_cancel_leaves_nothing_and_archives(qtbot, workspace, tmp_path: Path) -> None:  # noqa: ANN001
    ws, store, live = workspace
    ws.min_good = 4
    ws.set_product("web-2")
    _tiny_form(ws)
    for frame in _frames(5, 0.0, seed=5):
        ws.capture.on_frame(frame)
        ws.capture.capture("good")
    ws.capture.lists["good"].item(0).setSelected(True)
    assert ws.capture.delete_selected() == 1 and ws.capture.samples.count("good") == 4
    with qtbot.waitSignal(ws.notified, timeout=60_000) as sig:
        assert ws.start_training()
        ws.cancel_training()
    assert sig.args == ["info", "training cancelled: nothing was saved"]
    qtbot.waitUntil(lambda: not ws.task.is_running(), timeout=10_000)
    assert ws.result is None and not ws.deploy_button.isEnabled() and not store.exists("web-2")
    pdir = store.product_dir("web-2")
    assert sorted(p.name for p in pdir.iterdir()) == ["samples"]

    # auto-capture every 2 frames; folder import; then train for real and export/import the recipe
    ws.capture.auto.setChecked(True)
    ws.capture.every.setValue(2)
    for frame in _frames(4, 0.0, seed=6):
        ws.capture.on_frame(frame)
    assert ws.capture.samples.count("good") == 6
    ws.capture.auto.setChecked(False)
    with qtbot.waitSignal(ws.trained, timeout=120_000):
        ws.start_training()
    qtbot.waitUntil(lambda: not ws.task.is_running(), timeout=10_000)
    recipe = ws.deploy()
    assert recipe is not None and live["recipe"] == recipe
    archive = tmp_path / "web-2.aoirecipe"
    assert ws.recipes.export_selected(archive) == archive and archive.is_file()
    other = RecipeStore(tmp_path / "other")
    from app.training.recipe_bar import RecipeBar

    bar = RecipeBar(other)
    qtbot.addWidget(bar)
    msgs: list = []
    bar.notified.connect(lambda lvl, m: msgs.append((lvl, m)))
    bad = tmp_path / "bad.aoirecipe"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    assert bar.import_file(bad) is None and msgs[-1][0] == "error" and other.names() == []
    imported = bar.import_file(archive)
    assert imported is not None and other.names() == ["web-2"] and bar.combo.count() == 1


def test_import_samples_and_bad_options(qtbot, workspace, tmp_path: Path) -> None:  # noqa: ANN001
    ws, store, live = workspace
    from inspection_core.data.imageio import imwrite

    for i, f in enumerate(_frames(3, 0.0, seed=7)):
        imwrite(tmp_path / "in" / f"{i}.png", f.image)
    ws.set_product("web-3")
    assert ws.capture.import_paths([tmp_path / "in"]) == 3 and ws.capture.counts() == (3, 0)
    assert ws.capture.import_paths([tmp_path / "missing.txt"]) == 0 and ws.messages[-1][0] == "error"
    ws.min_good = 2
    ws.form.set_option("image_size", "64, x")
    assert not ws.start_training() and "image_size" in ws.messages[-1][1]
    assert not ws.set_product("bad/name") and ws.capture.samples is None
    time.sleep(0)


def test_model_form_offers_the_whole_frame_pass_only_where_it_applies(qtbot) -> None:  # noqa: ANN001
    from app.training.model_form import ModelForm

    form = ModelForm()
    qtbot.addWidget(form)
    assert form.model_name == "patchcore"
    assert not form.whole.isEnabled() and not form.preprocessing().whole_frame  # resized frames: no tiles
    form.tile.setChecked(True)
    assert form.whole.isEnabled() and form.preprocessing().whole_frame  # PatchCore: one pass by default
    assert not form.overlap.isEnabled()  # no tiles cut: the overlap does not apply
    form.whole.setChecked(False)
    pre = form.preprocessing()
    assert pre.tile and not pre.whole_frame and form.overlap.isEnabled()
    form.whole.setChecked(True)
    form.combo.setCurrentIndex(form.combo.findData("sidn"))  # needs its input size: tiles only
    assert not form.whole.isEnabled() and not form.preprocessing().whole_frame


def test_model_form_checks_a_fusions_member_options_before_training(qtbot) -> None:  # noqa: ANN001
    from app.training.model_form import ModelForm, OptionError

    form = ModelForm()
    qtbot.addWidget(form)
    form.combo.setCurrentIndex(form.combo.findData("fusion"))
    form.set_option("sidn_options", "epochs=3 max_seconds=60")
    assert form.options() == {"sidn_options": "epochs=3 max_seconds=60"}
    form.set_option("sidn_options", "epochs=three")
    with pytest.raises(OptionError, match="epochs"):
        form.options()
    form.set_option("sidn_options", "")
    form.set_option("map_weight", 2.0)
    with pytest.raises(OptionError, match="map_weight"):
        form.options()


def test_fusion_trains_validates_and_deploys_from_the_workspace(qtbot, workspace) -> None:  # noqa: ANN001
    ws, store, live = workspace
    assert ws.set_product("web-f")
    ws.form.combo.setCurrentIndex(ws.form.combo.findData("fusion"))
    ws.form.set_option("image_size", (64, 64))
    ws.form.set_option("patchcore_options", "coreset_size=200 max_patches=5000")
    ws.form.set_option(
        "sidn_options",
        "channels=4 clusters=3 batch_size=4 image_size=32x32 median_kernel=3 epochs=1 workers=0",
    )
    for frame in _frames(22, 0.0, seed=5):
        ws.capture.on_frame(frame)
        ws.capture.good_button.click()
    for frame in _frames(2, 3.0, seed=6):
        ws.capture.on_frame(frame)
        ws.capture.bad_button.click()
    with qtbot.waitSignal(ws.trained, timeout=120_000):
        assert ws.start_training()
    qtbot.waitUntil(lambda: not ws.task.is_running(), timeout=10_000)
    res = ws.result
    assert res.bundle.name == "fusion" and set(res.bundle.model.member_norms) == {"patchcore", "sidn"}
    assert res.validation.n_defective == 2
    recipe = ws.deploy()
    assert recipe is not None and live["recipe"] == recipe
    inspector = store.load("web-f").build_inspector()
    assert inspector.bundle.name == "fusion"
    result = inspector.inspect(_frames(1, 3.0, seed=7)[0])
    assert result.anomaly_map.shape == (128, 128) and result.verdict in ("OK", "NG")


def _long_training_set_up(ws: TrainingWorkspace, product: str, model: str, options: dict, seed: int) -> None:
    """A product with 6 good samples and a loop model planned for far longer than the test waits."""
    ws.min_good = 4
    assert ws.set_product(product)
    ws.form.combo.setCurrentIndex(ws.form.combo.findData(model))
    for name, value in options.items():
        ws.form.set_option(name, value)
    for frame in _frames(6, 0.0, seed=seed):
        ws.capture.on_frame(frame)
        ws.capture.good_button.click()


def _phase_events(ws: TrainingWorkspace) -> list:
    events: list = []
    ws.task.worker.progress.connect(events.append)  # queued to this thread: read after waits
    return events


def test_finish_now_keeps_ndpnet_and_resume_continues_its_schedule(qtbot, workspace) -> None:  # noqa: ANN001
    ws, store, live = workspace
    opts = {
        "image_size": (32, 32),
        "width": 4,
        "batch_size": 2,
        "epochs": 300,
        "phase2_epochs": 300,
        "workers": 0,
    }
    _long_training_set_up(ws, "web-n", "ndpnet", opts, seed=8)
    assert not ws.finish_button.isEnabled() and not ws.resume_button.isEnabled()
    assert ws.start_training()
    events = _phase_events(ws)
    qtbot.waitUntil(lambda: any(e.stage == "phase1" for e in events), timeout=60_000)
    assert ws.finish_button.isEnabled()
    with qtbot.waitSignal(ws.trained, timeout=60_000):
        ws.finish_button.click()
    qtbot.waitUntil(lambda: not ws.task.is_running(), timeout=10_000)
    first = ws.result.bundle.model.schedule
    assert not first["finished"] and 0 < first["steps"][0] < first["planned"][0]
    assert ws.resume_button.isEnabled() and ws.deploy_button.isEnabled() and not ws.finish_button.isEnabled()
    assert "Resume continues its schedule" in ws.result_label.text()
    assert ("info", "finishing training now: the model is kept as trained so far") in ws.messages

    kept = ws.result
    with qtbot.waitSignal(ws.notified, timeout=60_000) as sig:  # a cancelled resume loses nothing
        assert ws.resume_training()
        ws.cancel_training()
    qtbot.waitUntil(lambda: not ws.task.is_running(), timeout=10_000)
    assert sig.args == ["info", "training cancelled; the model finished early is kept"]
    assert ws.result is kept and ws.resume_button.isEnabled() and ws.deploy_button.isEnabled()

    ws.form.set_option("width", 8)  # the form changed meanwhile: a resumed schedule keeps its own options
    assert ws.resume_training()
    events = _phase_events(ws)
    qtbot.waitUntil(lambda: any(e.stage == "phase1" for e in events), timeout=60_000)
    with qtbot.waitSignal(ws.trained, timeout=60_000):
        ws.finish_button.click()
    qtbot.waitUntil(lambda: not ws.task.is_running(), timeout=10_000)
    run = [e for e in events if e.stage == "phase1"]
    assert run and all(e.resumed_from == sum(first["steps"]) < e.step for e in run)
    second = ws.result.bundle.model.schedule
    assert second["steps"][0] > first["steps"][0] and second["planned"] == first["planned"]
    assert ws.result.bundle.model.config.width == 4 and "continued_from_saved" in ws.result.bundle.info
    recipe = ws.deploy()  # a model finished early is a working model
    assert recipe is not None and live["recipe"] == recipe
    assert store.load("web-n").build_inspector().bundle.model.schedule["steps"] == second["steps"]


def test_finish_now_on_a_model_that_cannot_resume(qtbot, workspace) -> None:  # noqa: ANN001
    ws, store, live = workspace
    opts = {"image_size": (32, 32), "channels": 4, "clusters": 3, "batch_size": 2, "median_kernel": 3}
    _long_training_set_up(ws, "web-s", "sidn", {**opts, "epochs": 2000, "workers": 0}, seed=9)
    assert ws.start_training()
    events = _phase_events(ws)
    qtbot.waitUntil(lambda: any(e.stage == "train" for e in events), timeout=60_000)
    with qtbot.waitSignal(ws.trained, timeout=60_000):
        ws.finish_now()
    qtbot.waitUntil(lambda: not ws.task.is_running(), timeout=10_000)
    assert max(e.step for e in events if e.stage == "train") < 2000 * 2
    assert "Finished early, as asked." in ws.result_label.text()
    assert not ws.resume_button.isEnabled() and ws.deploy_button.isEnabled()
    assert ws.resume_training() is False
