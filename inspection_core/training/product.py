"""Click-to-train for a new product: captured samples → model + calibration + validation → recipe.

GUI-free so the training workspace, the capture-to-deploy benchmark and the tests share one path:
`fit_calibrate` (training/fit.py) fits the model on frames cut exactly as the live `Inspector` cuts
them, calibrates it once through that Inspector (cross-fitted for fast models, so no good sample is
lost to calibration) and validates it on the scored good samples plus any captured defective ones
(never trained on). Nothing is written until `deploy_product`, which saves the model and a new recipe
version atomically (the store moves a finished model folder in), so a cancelled or failed run leaves
nothing half-written behind.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from inspection_core.calibration.validation import ValidationRun
from inspection_core.errors import DataError
from inspection_core.inspector import Inspector, Preprocessing
from inspection_core.models.bundle import ModelBundle
from inspection_core.recipe import CameraSettings, Recipe
from inspection_core.recipes.store import RecipeStore
from inspection_core.recipes.training import recipe_after_training
from inspection_core.runtime.context import FitContext
from inspection_core.training.fit import CalibrationFacts, fit_calibrate
from inspection_core.training.samples import SampleSet

DEFAULT_MODEL = "patchcore"


@dataclass
class ProductTraining:
    """A trained, calibrated, validated model that is not deployed yet (lives in memory only)."""

    bundle: ModelBundle
    calibration: CalibrationFacts
    validation: ValidationRun
    camera: CameraSettings = field(default_factory=CameraSettings)
    timings_s: dict[str, float] = field(default_factory=dict)

    @property
    def preprocessing(self) -> Preprocessing:
        return self.calibration.preprocessing

    def inspector(self) -> Inspector:
        return Inspector(self.bundle, preprocessing=self.preprocessing)


def train_product(
    good: Sequence[Path | str | np.ndarray],
    defective: Sequence[Path | str | np.ndarray] = (),
    model_name: str = DEFAULT_MODEL,
    options: dict[str, Any] | None = None,
    preprocessing: Preprocessing | None = None,
    ctx: FitContext | None = None,
    holdout: float | None = None,
    camera: CameraSettings | None = None,
    resume_from: ModelBundle | None = None,
) -> ProductTraining:
    """Fit on good samples, calibrate, validate on the scored good samples plus the defective ones.

    holdout None = the pipeline's choice (cross-fit a fast model, hold out 20 % for a loop model).
    Paths are kept for the validation gallery; arrays get synthetic names. Needs ≥ 2 good samples.
    Cancelling through ctx raises CancelledError at the next progress report; nothing is written.
    `ctx.finish_now()` ends a training loop early and keeps the model; `resume_from` (a model whose
    schedule ended early that way, `info["schedule_finished"]` false) continues its schedule with its
    own options.
    """
    if len(good) < 2:
        raise DataError(f"need at least 2 good samples to train and calibrate (have {len(good)})")
    res = fit_calibrate(
        resume_from.model.name if resume_from is not None else model_name,
        list(good),
        ctx,
        None if resume_from is not None else options,  # a schedule continues with its own options
        preprocessing,
        holdout=holdout,
        defective=list(defective),
        validate=True,
        info={"n_good_samples": len(good), "purpose": "product"},
        init_from=resume_from,
        resume=resume_from is not None,
    )
    assert res.validation is not None  # validate=True
    res.bundle.info["train_seconds"] = round(res.timings_s["total"], 3)
    return ProductTraining(
        res.bundle, res.calibration, res.validation, camera or CameraSettings(), res.timings_s
    )


def train_sample_set(
    samples: SampleSet,
    model_name: str = DEFAULT_MODEL,
    options: dict[str, Any] | None = None,
    preprocessing: Preprocessing | None = None,
    ctx: FitContext | None = None,
    holdout: float | None = None,
    resume_from: ModelBundle | None = None,
) -> ProductTraining:
    """`train_product` on a product's captured samples; camera settings come from the newest sidecar."""
    good = samples.list("good")
    cam: dict[str, Any] = {}
    for s in reversed(good):
        cam = s.meta.get("camera") or {}
        if cam:
            break
    camera = CameraSettings.from_dict(
        {k: cam[k] for k in ("exposure_us", "gain_db", "pixel_format") if k in cam}
    )
    return train_product(
        [s.path for s in good],
        samples.paths("defective"),
        model_name,
        options,
        preprocessing,
        ctx,
        holdout,
        camera,
        resume_from,
    )


def deploy_product(
    store: RecipeStore,
    name: str,
    result: ProductTraining,
    notes: str = "",
    source: str = "training workspace",
) -> Recipe:
    """Save the model and a new recipe version (atomically) and return the saved recipe.

    Same rules as `aoi train --recipe` (`recipe_after_training`): an existing recipe keeps its ROI,
    minimum area, pixel size and camera; its thresholds go back to the new model's calibration (0.5)
    with the old values kept in the history; its preprocessing becomes the one the model was
    calibrated with.
    """
    pdir = store.product_dir(name)
    pdir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".tmp-trained-", dir=pdir))
    try:
        model_dir = result.bundle.save(staging / "model")
        return recipe_after_training(
            store, name, model_dir, source, notes, result.preprocessing, result.camera, move_model=True
        )
    finally:
        shutil.rmtree(staging, ignore_errors=True)
