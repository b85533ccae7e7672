"""Click-to-train for a new product: captured samples → model + calibration + validation → recipe.

GUI-free so the training workspace, the capture-to-deploy benchmark and the tests share one path.

1. 20 % of the good samples are held out (at least one). The model is fitted on the rest, fed exactly
   as the live `Inspector` will feed it (whole frames resized, or tiles cut the same way).
2. Its normalisation (hence the initial 0.5 thresholds) is calibrated on the held-out good frames
   through that `Inspector`, so a tiled image score (max over tiles) is calibrated as a whole frame.
3. A `ValidationRun` over the held-out good frames plus any captured defective samples (never trained
   on) is built from the same predictions, for the result page's validation view.
4. Nothing is written until `deploy_product`, which saves the model and a new recipe version
   atomically (the store moves a finished model folder in), so a cancelled or failed run leaves
   nothing half-written behind.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from inspection_core.calibration.validation import ValidationItem, ValidationRun
from inspection_core.data.dataset import GOOD, Sample
from inspection_core.data.imageio import imread
from inspection_core.errors import DataError
from inspection_core.inspector import Inspector, Preprocessing, RawPrediction, model_inputs
from inspection_core.models.bundle import ModelBundle
from inspection_core.postprocess.normalization import fit_normalization
from inspection_core.recipe import CameraSettings, Recipe, creation_info
from inspection_core.recipes.store import RecipeStore
from inspection_core.runtime.context import FitContext, device_label
from inspection_core.training.fit import split_holdout, train_model
from inspection_core.training.samples import SampleSet

DEFAULT_MODEL = "patchcore"
HOLDOUT = 0.2
MAP_SIZE = 128


@dataclass
class ProductTraining:
    """A trained, calibrated, validated model that is not deployed yet (lives in memory only)."""

    bundle: ModelBundle
    preprocessing: Preprocessing
    validation: ValidationRun
    camera: CameraSettings = field(default_factory=CameraSettings)
    timings_s: dict[str, float] = field(default_factory=dict)

    def inspector(self) -> Inspector:
        return Inspector(self.bundle, preprocessing=self.preprocessing)


def _load(items: Sequence[Path | str | np.ndarray], ctx: FitContext, stage: str) -> list[np.ndarray]:
    out = []
    for i, it in enumerate(items):
        out.append(it if isinstance(it, np.ndarray) else imread(it))
        ctx.report(stage, i + 1, len(items), "reading samples")
    return out


def _items(
    samples: list[Sample], raws: list[RawPrediction], masks: list[np.ndarray | None], inspector: Inspector
) -> list[ValidationItem]:
    """ValidationItems from predictions already made (no second inference of the held-out frames)."""
    norm = inspector.bundle.normalization
    mh, mw = (min(int(s), MAP_SIZE) for s in inspector.model.image_size)
    out = []
    for smp, raw, gt in zip(samples, raws, masks, strict=True):
        small = cv2.resize(raw.raw_map.astype(np.float32), (mw, mh), interpolation=cv2.INTER_AREA)
        gts = None if gt is None else cv2.resize(gt.astype(np.uint8), (mw, mh), cv2.INTER_NEAREST) > 0
        out.append(
            ValidationItem(
                smp.path, smp.label, smp.defect_type, float(norm.score(raw.raw_score)), raw.raw_score,
                small, gts, raw.raw_map.shape,
            )
        )  # fmt: skip
    return out


def _predict(
    inspector: Inspector, images: list[np.ndarray], ctx: FitContext, stage: str
) -> list[RawPrediction]:
    out: list[RawPrediction] = []
    step = 8
    for i in range(0, len(images), step):
        out += inspector.predict_raw(images[i : i + step])
        ctx.report(stage, min(len(images), i + step), len(images), "predicting")
    return out


def train_product(
    good: Sequence[Path | str | np.ndarray],
    defective: Sequence[Path | str | np.ndarray] = (),
    model_name: str = DEFAULT_MODEL,
    options: dict[str, Any] | None = None,
    preprocessing: Preprocessing | None = None,
    ctx: FitContext | None = None,
    holdout: float = HOLDOUT,
    camera: CameraSettings | None = None,
    resume_from: ModelBundle | None = None,
) -> ProductTraining:
    """Fit on good samples, calibrate on the held-out ones, validate on those plus the defective ones.

    Paths are kept for the validation gallery; arrays get synthetic names. Needs ≥ 2 good samples.
    Cancelling through ctx raises CancelledError at the next progress report; nothing is written.
    `ctx.finish_now()` ends a training loop early and keeps the model; `resume_from` (a model whose
    schedule ended early that way, `info["schedule_finished"]` false) continues its schedule with its
    own options.
    """
    ctx = ctx or FitContext()
    pre = preprocessing or Preprocessing()
    if len(good) < 2:
        raise DataError(f"need at least 2 good samples to train and calibrate (have {len(good)})")
    t0 = time.perf_counter()
    good_imgs = _load(good, ctx, "load")
    bad_imgs = _load(defective, ctx, "load defective")
    tr, ho = split_holdout(len(good_imgs), holdout, ctx.seed)
    opts = dict(options or {})
    if resume_from is not None:  # the schedule continues only with the options it began with
        model_name, opts = resume_from.model.name, dataclasses.asdict(resume_from.model.config)
    from inspection_core.models.registry import get_model_info

    size_default = dict((n, d) for n, d, _ in get_model_info(model_name).options).get(
        "image_size", (256, 256)
    )
    size = tuple(opts.get("image_size", size_default))
    t1 = time.perf_counter()
    train = model_inputs([good_imgs[i] for i in tr], size, pre)  # type: ignore[arg-type]
    info = {"preprocessing": pre.to_dict(), "n_good_samples": len(good_imgs), "purpose": "product"}
    bundle = train_model(
        model_name,
        train,
        ctx,
        holdout=0.0,
        options=opts,
        info=info,
        init_from=resume_from,
        resume=resume_from is not None,
    )
    t2 = time.perf_counter()
    inspector = Inspector(bundle, preprocessing=pre)
    ho_imgs = [good_imgs[i] for i in ho]
    raws = _predict(inspector, ho_imgs, ctx, "calibrate")
    norm = fit_normalization(np.array([r.raw_score for r in raws]), np.stack([r.raw_map for r in raws]))
    bundle = ModelBundle(
        bundle.model,
        norm,
        {
            **bundle.info,
            "n_train": int(len(tr)),
            "n_holdout": int(len(ho)),
            "device": device_label(ctx.device),
        },
    )
    inspector = Inspector(bundle, preprocessing=pre)
    bad_raws = _predict(inspector, bad_imgs, ctx, "validate") if bad_imgs else []
    t3 = time.perf_counter()

    def name(it: Path | str | np.ndarray, kind: str, i: int) -> Path:
        return Path(it) if not isinstance(it, np.ndarray) else Path(f"<{kind} {i}>")

    samples = [Sample(name(good[i], GOOD, int(i)), 0, GOOD) for i in ho]
    samples += [Sample(name(d, "defective", i), 1, "defective") for i, d in enumerate(defective)]
    items = _items(samples, raws + bad_raws, [None] * len(samples), inspector)
    run = ValidationRun(items, norm, inspector.settings, bundle.name)
    timings = {"load": t1 - t0, "fit": t2 - t1, "calibrate_validate": t3 - t2, "total": t3 - t0}
    bundle.info["train_seconds"] = round(t3 - t0, 3)
    return ProductTraining(bundle, pre, run, camera or CameraSettings(), timings)


def train_sample_set(
    samples: SampleSet,
    model_name: str = DEFAULT_MODEL,
    options: dict[str, Any] | None = None,
    preprocessing: Preprocessing | None = None,
    ctx: FitContext | None = None,
    holdout: float = HOLDOUT,
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

    An existing recipe keeps its ROI, minimum area, pixel size and camera extras; its thresholds go
    back to the new model's calibration (0.5) with the old values kept in the history (as
    `recipe_after_training` does), and its tiling becomes the one the new model was trained with.
    """
    pdir = store.product_dir(name)
    pdir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".tmp-trained-", dir=pdir))
    try:
        model_dir = result.bundle.save(staging / "model")
        if store.exists(name):
            old = store.load(name)
            recipe = old.apply_thresholds(
                0.5, 0.5, note="model retrained: thresholds reset to its calibration"
            )
            recipe = recipe.with_(
                model_dir=str(model_dir), base_dir=None, preprocessing=result.preprocessing,
                notes=notes or old.notes,
            )  # fmt: skip
        else:
            recipe = Recipe(
                name=name, model_dir=str(model_dir), camera=result.camera, preprocessing=result.preprocessing,
                notes=notes, created=creation_info(source),
            )  # fmt: skip
        return store.save(recipe, move_model=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
