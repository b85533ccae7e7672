"""Clean training samples (issue #25, item 4): good captures skip (or flag) frames the live model judges
NG and near-copies of the previous capture; thumbnails say the verdict; a false reject from validation
goes to the good set and the model is refitted."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from gui_fakes import FakeWeb
from PySide6.QtCore import Qt

from app.training import TrainingWorkspace
from app.training.capture_panel import CapturePanel
from inspection_core.inspector import Inspector, Preprocessing
from inspection_core.models.bundle import ModelBundle
from inspection_core.postprocess.settings import PostprocessSettings
from inspection_core.recipes import RecipeStore
from inspection_core.training.capture_filter import CaptureFilter, frame_change, frame_signature
from inspection_core.training.samples import SampleSet

pytestmark = pytest.mark.gui


def _judged(bundle: ModelBundle, n: int, defects: bool, start: int = 0) -> list:
    """n frames of the stand-in web with the tiny model's results on them (as the live view has them)."""
    src = FakeWeb(size=128, fps=0)
    src.open()
    src.start()
    src.defects = defects
    frames = [src.read() for _ in range(start + n)][start:]
    src.close()
    insp = Inspector(bundle, PostprocessSettings(), Preprocessing(tile=False))
    return [(f, insp.inspect(f)) for f in frames]


@pytest.fixture
def panel(qtbot, tmp_path: Path) -> CapturePanel:  # noqa: ANN001
    p = CapturePanel(SampleSet(tmp_path / "samples"))
    qtbot.addWidget(p)
    p.show()
    return p


def test_signature_change_is_cheap_and_sensible() -> None:
    a = np.full((64, 80), 100, np.uint8)
    noisy = np.clip(a + np.random.default_rng(0).integers(-3, 4, a.shape), 0, 255).astype(np.uint8)
    assert frame_change(frame_signature(a), frame_signature(noisy)) < 0.005  # sensor noise: under 1 %
    assert frame_change(frame_signature(a), frame_signature(a + 51)) == pytest.approx(0.2, abs=1e-3)
    assert frame_signature(np.zeros((20, 30, 3), np.uint16)).shape == (32, 32)
    # a 5 MP frame: sensor noise stays a near-copy, a moved web does not
    rng = np.random.default_rng(1)
    coarse = rng.normal(128, 40, (105, 125)).astype(np.float32)  # structure ~20 px across
    web = np.clip(cv2.resize(coarse, (2500, 2100), interpolation=cv2.INTER_CUBIC), 0, 255).astype(np.uint8)
    view, noisy = web[:2048, :2448], np.clip(web[:2048, :2448] + rng.integers(-3, 4, (2048, 2448)), 0, 255)
    moved = web[40:2088, 40:2488]
    assert frame_change(frame_signature(view), frame_signature(noisy.astype(np.uint8))) < 0.005
    assert frame_change(frame_signature(view), frame_signature(moved)) > 0.02
    f = CaptureFilter("skip", 0.05)
    sig = frame_signature(a)
    assert f.check(sig, judged_ng=None, previous=sig).cause == "similar"
    assert f.check(sig, judged_ng=True, score=0.9).action == "skip"
    assert CaptureFilter("flag").check(sig, judged_ng=True).action == "flag"
    assert CaptureFilter("keep").check(sig, judged_ng=True).action == "capture"


def test_ng_frames_are_not_captured_as_good(qtbot, panel: CapturePanel, tiny_bundle: ModelBundle) -> None:  # noqa: ANN001
    good, bad = _judged(tiny_bundle, 4, False), _judged(tiny_bundle, 4, True, start=4)
    assert not any(r.is_ng for _, r in good) and all(r.is_ng for _, r in bad)
    panel.auto.setChecked(True)
    panel.every.setValue(1)
    for frame, result in good[:2] + bad + good[2:]:  # auto-capture sees every frame
        panel.on_frame(frame, result)
    kept = panel.samples.list("good")
    assert [s.meta["frame_id"] for s in kept] == [f.frame_id for f, _ in good]
    assert all(s.meta["live_verdict"] == "OK" for s in kept) and panel.skipped["ng"] == 4
    assert "skipped: 4 judged NG" in panel.counter.text()
    # the thumbnail shows the verdict and score
    assert panel.lists["good"].item(0).text().splitlines()[1] == f"OK {good[0][1].score:.3f}"

    # G on an NG frame: refused, and the operator is told why
    panel.auto.setChecked(False)
    with qtbot.waitSignal(panel.notified) as sig:
        qtbot.keyClick(panel.lists["good"], Qt.Key.Key_G)
    assert panel.samples.count("good") == 4  # the last frame shown was good: but a near-copy
    assert sig.args[0] == "info" and "too similar" in sig.args[1]
    panel.on_frame(*bad[0])
    with qtbot.waitSignal(panel.notified) as sig:
        panel.good_button.click()
    assert "judges this frame NG" in sig.args[1] and panel.samples.count("good") == 4

    # the user's choice: flag instead of skip — captured, marked in the sidecar and on the thumbnail
    panel.ng_policy.setCurrentIndex(panel.ng_policy.findData("flag"))
    panel.good_button.click()
    s = panel.samples.list("good")[-1]
    assert s.meta["flagged"] is True and s.meta["live_verdict"] == "NG"
    item = panel.lists["good"].item(4)
    assert item.text().splitlines()[1].startswith("⚑ NG") and "review them" in panel.counter.text()
    panel.reload()  # the verdict comes back from the sidecar
    assert panel.lists["good"].item(4).text().splitlines()[1].startswith("⚑ NG")


def test_near_copies_are_skipped(qtbot, panel: CapturePanel, tiny_bundle: ModelBundle) -> None:  # noqa: ANN001
    (frame, result), (other, other_result) = _judged(tiny_bundle, 2, False)
    panel.on_frame(frame, result)
    assert panel.capture("good") is not None
    again = type(frame)(frame.image.copy(), frame.frame_id + 100, frame.timestamp_ns, frame.source, {})
    panel.on_frame(again, result)  # same view, a new frame id (a stopped line)
    assert panel.capture("good") is None and panel.skipped["similar"] == 1
    panel.on_frame(other, other_result)  # the web moved on
    assert panel.capture("good") is not None
    panel.min_change.setValue(0.0)  # off: near-copies are kept
    panel.on_frame(again, result)
    assert panel.capture("good") is not None and panel.samples.count("good") == 3
    # defective captures are never filtered (they are for validation)
    panel.min_change.setValue(50.0)
    panel.on_frame(again, result)
    assert panel.capture("defective") is not None


def test_workspace_capture_without_result_is_unjudged(qtbot, tmp_path: Path) -> None:  # noqa: ANN001
    ws = TrainingWorkspace(RecipeStore(tmp_path / "recipes"), device="cpu", dialogs=False)
    qtbot.addWidget(ws)
    assert ws.set_product("p")
    src = FakeWeb(size=64, fps=0)
    src.open()
    src.start()
    frame = src.read()
    src.close()
    ws.capture.on_frame(frame)  # no model: nothing judged it, so nothing to filter on
    s = ws.capture.capture("good")
    assert s is not None and "live_verdict" not in s.meta and ws.capture.lists["good"].item(0).text() == "1"
    ws.shutdown()
