"""Issue #25: the GUI's AUROC (ValidationRun) is the CLI's (`aoi eval`, raw scores) on the same
scores: good scores floored at 0 no longer tie and lower it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from inspection_core.calibration.validation import ValidationItem, ValidationRun
from inspection_core.metrics import auroc
from inspection_core.postprocess.normalization import Normalization


def test_validation_auroc_is_the_raw_score_auroc_despite_the_floor() -> None:
    norm = Normalization(image_threshold=10.0, image_reference=8.0, pixel_threshold=1.0, pixel_reference=0.0)
    # raw 4..7 normalise below 0 (floored to 0: four ties); the defective one at 5 sits among them
    raw = np.array([4.0, 5.5, 6.0, 7.0, 9.0, 5.0, 11.0, 12.0])
    labels = np.array([0, 0, 0, 0, 0, 1, 1, 1])
    items = [
        ValidationItem(
            Path(f"{i}.png"),
            int(y),
            "good" if y == 0 else "x",
            float(norm.score(r)),
            float(r),
            np.zeros((4, 4), np.float32),
            None,
            (4, 4),
        )
        for i, (r, y) in enumerate(zip(raw, labels, strict=True))
    ]
    run = ValidationRun(items, norm)
    cli = auroc(labels, raw)  # what `aoi eval` computes (evaluate_dataset: raw scores)
    floored = auroc(labels, run.scores)
    assert floored != pytest.approx(cli)  # the old GUI number: ties at 0 changed it
    assert run.roc().auroc == pytest.approx(cli)
    assert run.summary()["image_auroc"] == pytest.approx(cli)
    assert run.scores.min() == 0.0  # the displayed scores keep their floor
