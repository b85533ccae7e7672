"""Tuning workspace (issue #5): validation on a tiny labelled folder, threshold drag, frozen frame, apply/restore."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from _tiny_data import defective, texture, train_tiny, write_mvtec
from PySide6.QtWidgets import QApplication, QMessageBox

from app.tuning import TuningSession, TuningWorkspace
from app.tuning.task_worker import make_task
from inspection_core.inspector import Inspector
from inspection_core.models.bundle import ModelBundle
from inspection_core.recipe import Recipe
from inspection_core.recipes import RecipeStore
from inspection_core.runtime.context import FitContext
from inspection_core.types import Verdict

pytestmark = pytest.mark.gui
SHOTS = os.environ.get("AOI_SCREENSHOTS")  # a folder: save screenshots of the workspace there


@pytest.fixture(scope="module")
def bundle() -> ModelBundle:
    import torch

    torch.set_num_threads(1)
    return train_tiny()


@pytest.fixture
def workspace(qtbot, tmp_path: Path, bundle: ModelBundle):  # noqa: ANN001, ANN201
    store = RecipeStore(tmp_path / "recipes")
    recipe = store.save(Recipe("tile", str(bundle.save(tmp_path / "model"))))
    inspector = Inspector(bundle)
    ws = TuningWorkspace(TuningSession(recipe=recipe, store=store), lambda: inspector, dialogs=False)
    qtbot.addWidget(ws)
    ws.resize(1300, 850)
    ws.show()
    yield ws, store, inspector
    ws.shutdown()


def _freeze(ws: TuningWorkspace, inspector: Inspector, image: np.ndarray) -> None:
    (raw,) = inspector.predict_raw([image])
    ws.freeze_prediction(inspector.bundle, raw, image, frame_id=7)


def test_validate_drag_threshold_apply_and_restore(qtbot, tmp_path: Path, workspace) -> None:  # noqa: ANN001
    ws, store, inspector = workspace
    data = write_mvtec(tmp_path / "data", n_train=0, n_good=6, n_bad=6, seed=5)
    # a frame whose score lies inside the spin box range, so thresholds just below and above it both exist
    rng = np.random.default_rng(9)
    for _ in range(40):
        frozen = texture(rng) if rng.random() < 0.5 else defective(rng)[0]
        _freeze(ws, inspector, frozen)
        score = ws.frame.result.score
        if 0.1 < score < 4.5:
            break
    assert 0.1 < score < 4.5
    panel = ws.validation
    panel.data_edit.setText(str(data))
    with qtbot.waitSignal(panel.finished, timeout=60_000):
        assert panel.start()
    qtbot.waitUntil(lambda: not panel.running, timeout=10_000)
    run = panel.run
    assert (run.n_good, run.n_defective) == (6, 6) and run.has_masks
    assert "AUROC" in panel.summary.text() and "AUPRO" in panel.summary.text()
    c = run.confusion(0.5)
    assert (panel.confusion.cell("good", "NG"), panel.confusion.cell("defective", "OK")) == (c.fp, c.fn)
    assert set(panel.suggestions) == {"f1", "max-false-reject", "min-recall", "pixel"}
    assert set(panel.scores.markers) == {"f1", "max-false-reject", "min-recall"}

    # drag the image threshold line below every score: every good part is now a false reject
    panel.scores.line.setValue(float(run.scores.min()) - 0.01)
    assert panel.threshold.value() == pytest.approx(ws.session.settings.image_threshold, abs=1e-3)
    assert panel.confusion.cell("good", "NG") == 6 and panel.confusion.cell("defective", "OK") == 0
    assert panel.gallery.n_items("fr") == 6 and panel.gallery.n_items("fa") == 0
    # ... and the frozen frame follows: the same threshold relative to its score flips the verdict
    ws.session.update(image_threshold=score + 0.05)
    assert ws.frame.result.verdict is Verdict.OK and "OK" in ws.frame.verdict.text()
    panel.scores.line.setValue(score - 0.05)
    assert ws.frame.result.verdict is Verdict.NG and ws.frame.controls.image.value() == pytest.approx(
        score - 0.05, abs=1e-3
    )
    # a suggestion is one click, and it is on the plots
    panel.sug_buttons["f1"].click()
    f1 = panel.suggestions["f1"].threshold
    assert ws.session.settings.image_threshold == pytest.approx(f1, abs=1e-5)
    assert panel.scores.threshold == pytest.approx(f1, abs=1e-5)
    assert panel.confusion.confusion == run.confusion(ws.session.settings.image_threshold)
    dlg = panel.gallery.open_item(run.items[-1])
    assert dlg is not None and dlg.isVisible()
    dlg.close()
    if SHOTS:
        ws.tabs.setCurrentWidget(panel)
        QApplication.processEvents()
        ws.grab().save(str(Path(SHOTS) / "tuning_validation.png"))

    # apply: a new recipe version; its history keeps the calibrated 0.5
    before = store.load("tile")
    assert ws.apply()
    v2 = store.load("tile")
    assert v2.version == before.version + 1 and v2.postprocess.image_threshold == pytest.approx(f1, abs=1e-5)
    assert v2.history[-1].image_threshold == 0.5 and not ws.session.dirty
    assert ws.restore()
    v3 = store.load("tile")
    assert v3.version == v2.version + 1 and v3.postprocess.image_threshold == 0.5
    assert ws.session.settings.image_threshold == 0.5 and panel.threshold.value() == 0.5


def test_frozen_frame_controls_table_and_roi(qtbot, workspace) -> None:  # noqa: ANN001
    ws, store, inspector = workspace
    img, _mask = defective(np.random.default_rng(4))
    _freeze(ws, inspector, img)
    tuner = ws.frame
    # pixel threshold: the spin box moves the histogram line and re-thresholds at once
    tuner.controls.pixel.setValue(0.0)
    assert tuner.histogram.threshold == pytest.approx(0.0)
    assert tuner.result.mask.all() and tuner.table.rowCount() == 1
    # dragging the line moves the spin box
    tuner.histogram.line.setValue(0.999)
    assert tuner.controls.pixel.value() == pytest.approx(0.999, abs=1e-3)
    n_high = tuner.table.rowCount()
    tuner.histogram.line.setValue(float(np.quantile(tuner.frozen.norm_map, 0.98)))
    assert tuner.table.rowCount() >= 1 and tuner.result.mask.sum() > 0
    assert tuner.table.rowCount() >= n_high
    # min area above every region removes them all and, with min area set, the part passes
    tuner.controls.min_area.setValue(10_000)
    assert tuner.table.rowCount() == 0 and tuner.result.verdict is Verdict.OK
    tuner.controls.min_area.setValue(0)
    tuner.table.selectRow(0)
    x0, y0, x1, y1 = tuner.table.defects[0].bbox
    xs, ys = tuner.view.highlight_item.getData()
    assert (min(xs), min(ys), max(xs), max(ys)) == (x0, y0, x1, y1)
    # ROI: an ignore rectangle over the whole frame masks everything out before the verdict
    tuner.roi_ignore.setChecked(True)
    tuner.roi_buttons["Rectangle"].click()
    tuner.view.editor.setPos((-1, -1))
    tuner.view.editor.setSize((100, 100))
    tuner.roi_buttons["Add shape"].click()
    roi = ws.session.settings.roi
    assert len(roi.shapes) == 1 and roi.shapes[0].ignore
    assert not tuner.result.mask.any() and tuner.result.verdict is Verdict.OK
    tuner.roi_include.setChecked(True)
    tuner.roi_buttons["Polygon"].click()
    tuner.roi_buttons["Add shape"].click()
    assert ws.session.settings.roi.shapes[1].kind == "polygon"
    if SHOTS:
        tuner.roi_buttons["Clear ROI"].click()
        tuner.controls.pixel.setValue(0.5)
        QApplication.processEvents()
        ws.grab().save(str(Path(SHOTS) / "tuning_frame.png"))
        ws.session.update(roi=roi)
    ws.apply()
    assert store.load("tile").postprocess.roi.shapes[0].ignore  # saved with the recipe


def test_product_outline_becomes_an_include_roi(qtbot, workspace) -> None:  # noqa: ANN001
    ws, _store, inspector = workspace
    tuner = ws.frame
    tuner.roi_buttons["Product outline"].click()
    assert "Freeze a frame first" in tuner.roi_note.text() and not ws.session.settings.roi.shapes
    rng = np.random.default_rng(5)
    _freeze(ws, inspector, texture(rng, 96))  # the surface fills the frame: nothing to outline
    tuner.roi_buttons["Product outline"].click()
    assert "fills the frame" in tuner.roi_note.text() and not ws.session.settings.roi.shapes
    img = np.full((96, 128), 15, np.uint8)  # a textured part on a dark, plain conveyor
    img[20:76, 30:110] = texture(rng, 96)[:56, :80] + 40
    _freeze(ws, inspector, img)
    tuner.roi_buttons["Product outline"].click()
    (shape,) = ws.session.settings.roi.shapes
    assert shape.kind == "polygon" and not shape.ignore and "added" in tuner.roi_note.text()
    xs, ys = zip(*shape.points, strict=True)
    assert (
        abs(min(xs) - 30) <= 3
        and abs(max(xs) - 109) <= 3
        and abs(min(ys) - 20) <= 3
        and abs(max(ys) - 75) <= 3
    )
    # the conveyor is outside the inspection region now: nothing there can become a defect
    tuner.controls.pixel.setValue(0.0)
    assert tuner.result.mask[20:76, 30:110].any() and not tuner.result.mask[:, :25].any()


def test_errors_are_messages_not_crashes(qtbot, tmp_path: Path, bundle: ModelBundle) -> None:  # noqa: ANN001
    ws = TuningWorkspace(TuningSession(), lambda: None)  # dialogs on: a non-modal box opens
    qtbot.addWidget(ws)
    assert not ws.validation.start()
    assert ws.messages[-1][0] == "error" and "model" in ws.messages[-1][1]
    assert not ws.restore()  # no history yet
    boxes = [w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible()]
    assert boxes
    for b in boxes:
        b.close()
    ws2 = TuningWorkspace(TuningSession(), lambda: Inspector(bundle), dialogs=False)
    qtbot.addWidget(ws2)
    ws2.validation.data_edit.setText(str(tmp_path / "missing"))
    assert not ws2.validation.start() and "not found" in ws2.messages[-1][1]


def test_task_worker_cancel(qtbot) -> None:  # noqa: ANN001
    def forever(ctx: FitContext) -> None:
        i = 0
        while True:
            ctx.report("spin", i, 0)
            i += 1

    task = make_task(forever, "spin")
    with qtbot.waitSignal(task.worker.cancelled, timeout=10_000):
        with qtbot.waitSignal(task.worker.progress, timeout=10_000):
            task.start()
        task.worker.request_stop()
    assert task.stop(5_000)
