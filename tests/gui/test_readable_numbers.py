"""Issue #25, numbers people can read: the verdict panel shows the signed margin to the threshold
before the floor at 0 (a good frame is not just "score 0.000") and the verdict rule in words."""

from __future__ import annotations

import numpy as np

from app.display_data import prepare
from app.panels.verdict_panel import VerdictPanel
from app.state import LiveLine, SessionState
from inspection_core.postprocess.normalization import Normalization
from inspection_core.postprocess.roi import Roi, RoiShape
from inspection_core.postprocess.settings import PostprocessSettings
from inspection_core.types import Frame, InspectionResult, Verdict

NORM = Normalization(image_threshold=10.0, image_reference=8.0, pixel_threshold=1.0, pixel_reference=0.0)


def _item(i: int, raw: float):  # noqa: ANN202 - InspectedFrame
    score = float(NORM.score(raw))
    verdict = Verdict.NG if score >= 0.5 else Verdict.OK
    z = np.zeros((16, 16), np.float32)
    res = InspectionResult(i, z, score, verdict, np.zeros((16, 16), bool), (), raw_score=raw)
    frame = Frame(np.zeros((16, 16), np.uint8), i, 0, "t")
    return prepare(frame, res, 0.0, 1.0, 0)


def test_good_frames_show_their_margin_and_the_rule_is_in_words(qtbot) -> None:  # noqa: ANN001
    state = SessionState()
    panel = VerdictPanel(state)
    qtbot.addWidget(panel)
    state.set_live(LiveLine("patchcore (demo)", settings=PostprocessSettings(), normalization=NORM))
    assert panel.rule.text() == "NG when the image score ≥ 0.50"
    panel.show_item(_item(1, raw=5.0))  # normalised -0.75: floored to 0
    assert "score 0.000" in panel.score.text() and "margin -1.250" in panel.score.text()
    panel.show_item(_item(2, raw=9.0))  # 0.25: a quarter under the threshold
    assert "margin -0.250" in panel.score.text()
    panel.show_item(_item(3, raw=11.0))
    assert panel.text == "NG" and "margin +0.250" in panel.score.text()
    roi = Roi((RoiShape("rect", ((0.0, 0.0), (8.0, 8.0))),))
    state.set_live(
        LiveLine(
            "patchcore (demo)", settings=PostprocessSettings(min_defect_area=20, roi=roi), normalization=NORM
        )
    )
    assert panel.rule.text() == (
        "NG when the image score ≥ 0.50 and a region of ≥ 20 px and a region inside the ROI survives"
    )


def test_training_progress_is_busy_between_stages_and_times_each_stage(qtbot) -> None:  # noqa: ANN001
    from app.training.train_progress import TrainProgress
    from inspection_core.runtime.context import ProgressEvent

    p = TrainProgress()
    qtbot.addWidget(p)
    p.reset("cpu")
    p.on_progress(ProgressEvent("fit", 0, 10, elapsed_s=100.0))  # a first stage took 100 s
    p.on_progress(ProgressEvent("fit", 5, 10, elapsed_s=110.0))  # 2 s a step in this stage
    assert p.bar.maximum() == 10 and p.bar.value() == 5
    assert "ETA 10 s for fit" in p.eta.text()  # not 110 s / 5 steps × 5 = ETA 110 s
    p.on_progress(ProgressEvent("fit", 10, 10, elapsed_s=120.0))  # the stage is done, training is not
    assert p.bar.maximum() == 0 and "ETA" not in p.eta.text()  # busy: never "100 % / ETA 0 s"
    p.on_progress(ProgressEvent("validate", 1, 4, elapsed_s=130.0))
    assert p.bar.maximum() == 4 and "ETA" not in p.eta.text()  # no pace known in this stage yet
    p.finish("trained in 140 s")
    assert p.bar.value() == p.bar.maximum() == 1


def test_pixel_size_from_a_known_distance_fills_mm2_and_the_box_labels(qtbot) -> None:  # noqa: ANN001
    import pytest

    from app.tuning.frame_tuner import FrameTuner
    from app.tuning.pixel_size import PixelSizeError, mm_per_px
    from app.tuning.session import TuningSession
    from inspection_core.calibration.frozen import FrozenFrame
    from inspection_core.inspector import RawPrediction

    assert mm_per_px((0, 0), (30, 40), 10.0) == pytest.approx(0.2)  # 50 px = 10 mm
    with pytest.raises(PixelSizeError):
        mm_per_px((3, 3), (3, 3), 10.0)
    session = TuningSession(PostprocessSettings(pixel_threshold=0.5))
    tuner = FrameTuner(session)
    qtbot.addWidget(tuner)
    raw_map = np.zeros((64, 64), np.float32)
    raw_map[10:20, 10:30] = 5.0  # one 10×20 px region well over the pixel threshold
    frozen = FrozenFrame(RawPrediction(raw_map, 5.0, {}), NORM, 7, "patchcore")
    tuner.set_frozen(frozen, np.zeros((64, 64), np.uint8))
    assert tuner.result is not None and tuner.result.defects[0].area_mm2 is None
    assert tuner.pixel_size.set_from_line() is None  # no line yet: a clear message, nothing set
    tuner.pixel_size.begin((0.0, 0.0), (30.0, 40.0))  # the line over a feature known to be 10 mm
    tuner.pixel_size.distance.setValue(10.0)
    assert tuner.pixel_size.set_from_line() == pytest.approx(0.2)
    assert session.settings.pixel_size_mm == pytest.approx(0.2)
    d = tuner.result.defects[0]
    assert d.area_mm2 == pytest.approx(d.area_px * 0.04)
    assert "mm/px" in tuner.pixel_size.value.text()
    (label,) = prepare(Frame(np.zeros((64, 64), np.uint8), 7, 0, "t"), tuner.result, 0.0, 1.0, 0).labels
    assert label[2].endswith(f"{d.area_mm2:.2f} mm²")
