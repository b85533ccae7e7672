"""Fit → calibrate → validate: the one pipeline behind `aoi train`, the training workspace and the demo.

Calibration runs through an `Inspector` with the preprocessing the model will be inspected with
(resized frames, native-resolution tiles, or one whole-frame pass), so a calibrated threshold is in the
units live inspection produces: calibration and inspection cannot disagree.

How the good images are shared between the model and its calibration:

- **cross-fit** (fast models such as PatchCore, up to CROSS_FIT_MAX images, the default): k folds
  (k = min(5, n)); a model fitted on k−1 folds scores the held-out fold, and the final model is fitted on
  every image. No good image is lost to calibration — what a product with 16 samples needs. It costs
  k + 1 fits, which a model that fits in seconds affords.
- **hold-out, final model on every image** (fast models above CROSS_FIT_MAX images): cross-fitting
  with one fold — a model fitted on 80 % scores the other 20 %, then the final model is fitted on every
  image (2 fits instead of k + 1). The bank is the one the development suite measured.
- **hold-out** (loop models — SIDN, NDP-Net, BFDF, SCL-VI, fusion with its SIDN member — or an explicit
  `holdout` fraction): a share of the images never reaches the model and scores calibration; k
  trainings of a loop model would cost k× its minutes.
- **training images** (`holdout=0`): calibrated on what it was fitted on — optimistic, thresholds low.

Either way `CalibrationFacts` says how far the threshold can be trusted: the scored images are split
into groups (the folds), and the threshold computed without each group in turn is compared with the
good-score spread; how many left-out images their group's threshold would have rejected is counted too.
That evidence — not a fixed sample count — is what the training workspace shows the user.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from inspection_core.calibration.validation import ValidationItem, ValidationRun
from inspection_core.data.dataset import GOOD
from inspection_core.data.imageio import imread, to_rgb_float
from inspection_core.errors import DataError, UnknownModelError
from inspection_core.inspector import Inspector, Preprocessing, RawPrediction, model_inputs
from inspection_core.models.base import AnomalyModel
from inspection_core.models.bundle import ModelBundle
from inspection_core.models.registry import create_model, get_model_info
from inspection_core.postprocess.normalization import Normalization, fit_normalization
from inspection_core.postprocess.settings import PostprocessSettings
from inspection_core.runtime.context import FitContext, device_label

ImageLike = np.ndarray | str | os.PathLike[str]

HOLDOUT = 0.2  # share of the good images a plain hold-out keeps for calibration
MAX_FOLDS = 5
# above this many images a 20 % hold-out costs the memory bank little, and k + 1 fits would cost the
# fit-time budget (≤ 100 s CPU on 714 images) several times over
CROSS_FIT_MAX = 200
# the threshold counts as stable when leaving out any one fold moves it by at most this share of the
# good-score spread (threshold − typical good score); a chosen bound, not a tuned one
STABLE_SPREAD = 0.25
MAP_SIZE = 128  # validation maps are kept at most this size a side
PIXEL_BUDGET = 4_000_000  # good-map pixels kept for the pixel threshold (fit_normalization's own cap)

METHOD_CROSS_FIT = "cross-fit"
METHOD_HOLDOUT = "hold-out"
METHOD_HOLDOUT_REFIT = "hold-out, final model on every image"
METHOD_TRAINING = "training images"


@dataclass(frozen=True)
class CalibrationFacts:
    """How a model's normalisation was calibrated, and how much its threshold can be trusted.

    Saved in model.json (`info["calibration"]`): the preprocessing it was calibrated with is what
    `aoi predict` and the window use for a model folder without a recipe.
    """

    method: str
    preprocessing: Preprocessing = field(default_factory=Preprocessing)
    n_good: int = 0  # good images given
    n_fit: int = 0  # of them, in the final model
    n_scored: int = 0  # scored by a model that had not seen them (calibration)
    folds: int = 0  # groups of scored images the stability is measured over
    fold_thresholds: tuple[float, ...] = ()  # normalised (0.5 = calibrated): threshold without each group
    threshold_spread: float | None = None  # (max − min) of those thresholds / good-score spread
    fold_rejects: int = 0  # scored images above the threshold computed without their group

    @property
    def stable(self) -> bool:
        return self.threshold_spread is not None and self.threshold_spread <= STABLE_SPREAD

    def advice(self) -> str:
        """One sentence for the user: is the number of good samples enough, from this evidence."""
        n = self.n_good
        if self.threshold_spread is None:
            return (
                f"{n} good sample(s): too few to check how stable the threshold is; capture more good samples"
            )
        pct = round(100 * self.threshold_spread)
        rej = f"{self.fold_rejects} of {self.n_scored} good samples scored by a model that had not seen them"
        rej += " would have been rejected"
        if self.stable:
            return (  # in-sample evidence: alike samples look steady too, so ask for production's variety
                f"{n} good samples are enough if they show production's variety (lots, positions, lighting): "
                f"the threshold moves by {pct} % of the good-score spread when any 1/{self.folds} of them "
                f"is left out ({rej})."
            )
        return (
            f"{n} good samples are not enough yet: leaving out 1/{self.folds} of them moves the threshold by "
            f"{pct} % of the good-score spread ({rej}); capture more good samples, as varied as production."
        )

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["preprocessing"] = self.preprocessing.to_dict()
        d["fold_thresholds"] = list(self.fold_thresholds)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CalibrationFacts:
        kw = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        kw["preprocessing"] = Preprocessing.from_dict(d.get("preprocessing"))
        kw["fold_thresholds"] = tuple(float(t) for t in d.get("fold_thresholds", ()))
        return cls(**kw)

    @classmethod
    def of(cls, bundle: ModelBundle) -> CalibrationFacts | None:
        """The facts saved with a model (None for a model calibrated before they were recorded)."""
        d = bundle.info.get("calibration")
        if not isinstance(d, dict) or "method" not in d:
            return None
        try:
            return cls.from_dict(d)
        except (TypeError, ValueError):
            return None


def calibrated_preprocessing(bundle: ModelBundle) -> Preprocessing:
    """How frames reach this model in the mode it was calibrated in (resized when unknown)."""
    facts = CalibrationFacts.of(bundle)
    return facts.preprocessing if facts is not None else Preprocessing()


@dataclass
class FitResult:
    """A fitted, calibrated (and, when asked, validated) model; nothing is written to disk."""

    bundle: ModelBundle
    calibration: CalibrationFacts
    validation: ValidationRun | None = None
    timings_s: dict[str, float] = field(default_factory=dict)

    @property
    def preprocessing(self) -> Preprocessing:
        return self.calibration.preprocessing

    def inspector(self, settings: PostprocessSettings | None = None) -> Inspector:
        return Inspector(self.bundle, settings, self.preprocessing)


def load_images(
    items: Sequence[ImageLike], size: tuple[int, int], ctx: FitContext | None = None
) -> torch.Tensor:
    """(N, 3, H, W) float32 tensor in [0, 1] from arrays or paths; unreadable files are clear errors."""
    out = np.empty((len(items), 3, size[0], size[1]), np.float32)
    for i, it in enumerate(items):
        img = imread(it) if not isinstance(it, np.ndarray) else it
        out[i] = to_rgb_float(img, size).transpose(2, 0, 1)
        if ctx is not None and (i % 50 == 0 or i == len(items) - 1):
            ctx.report("load", i + 1, len(items), "reading images")
    return torch.from_numpy(out)


def split_holdout(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, holdout); at least 1 held out when fraction > 0 and n ≥ 2."""
    idx = np.random.default_rng(seed).permutation(n)
    k = int(round(n * fraction)) if fraction > 0 else 0
    if fraction > 0 and n >= 2:
        k = min(max(k, 1), n - 1)
    return np.sort(idx[k:]), np.sort(idx[:k])


def fold_ids(n: int, k: int, seed: int) -> np.ndarray:
    """Fold of each of n images (k folds, sizes differing by at most one, shuffled by seed)."""
    out = np.empty(n, np.int64)
    out[np.random.default_rng(seed).permutation(n)] = np.arange(n) % k
    return out


def choose_folds(n: int) -> int:
    """k for cross-fitting n images: 5, or n itself (leave-one-out) when fewer."""
    return max(2, min(MAX_FOLDS, n))


def calibration_method(
    model_name: str, n: int, holdout: float | None = None, continuing: bool = False
) -> tuple[str, float]:
    """(method, hold-out fraction) for n good images: see the module docstring for why."""
    if holdout is not None:
        if not 0 <= holdout < 1:
            raise DataError(f"hold-out must be a fraction in [0, 1), got {holdout}")
        return (METHOD_HOLDOUT if holdout > 0 else METHOD_TRAINING), float(holdout)
    if get_model_info(model_name).fast and not continuing:
        return (METHOD_CROSS_FIT, 0.0) if n <= CROSS_FIT_MAX else (METHOD_HOLDOUT_REFIT, HOLDOUT)
    return METHOD_HOLDOUT, HOLDOUT


def continue_from(model: AnomalyModel, previous: ModelBundle, resume: bool = False) -> None:
    """Start from a saved model's weights instead of from scratch (same model, same architecture).

    resume=False: a warm restart — the learning-rate schedule starts afresh. resume=True: the saved
    run ended early (`--stop-after`) and its schedule continues where it stopped (phase, steps, time
    box, learning rate); only the optimiser's moments start afresh (not saved: Adam's two moments
    would triple the file)."""
    if previous.model.name != model.name:
        raise DataError(f"--init-from holds a {previous.model.name} model, not {model.name}")
    if get_model_info(model.name).fast:
        raise DataError(f"{model.name} has no training loop to continue; train it from scratch")
    state = previous.model.extra_state()
    if resume:
        if not model.resumable:
            raise DataError(f"{model.name} cannot resume a run; use --init-from for a warm restart")
        if not state.get("schedule") or state["schedule"].get("finished", True):
            raise DataError("this model finished its training schedule; there is nothing to resume")
    else:
        state.pop("schedule", None)
    try:
        model.load_saved_tensors(previous.model.tensors_to_save())
        model.load_extra_state(state)
    except (KeyError, RuntimeError, ValueError) as exc:
        raise DataError(
            f"--init-from: its weights do not fit this {model.name} configuration ({exc})"
        ) from None


# --- the pipeline ---------------------------------------------------------------------------------
class _Frames:
    """The good images as frames (arrays kept, paths read on use) and the model inputs cut from them."""

    def __init__(self, items: Sequence[ImageLike] | torch.Tensor) -> None:
        if isinstance(items, torch.Tensor):  # model inputs already (N, 3, H, W) in [0, 1]
            self.items: list[ImageLike] = [np.ascontiguousarray(t.permute(1, 2, 0).numpy()) for t in items]
        else:
            self.items = list(items)

    def __len__(self) -> int:
        return len(self.items)

    def frame(self, i: int) -> np.ndarray:
        it = self.items[i]
        return it if isinstance(it, np.ndarray) else imread(it)

    def name(self, i: int, kind: str = GOOD) -> Path:
        it = self.items[i]
        return Path(f"<{kind} {i}>") if isinstance(it, np.ndarray) else Path(it)

    def inputs(
        self, size: tuple[int, int], pre: Preprocessing, ctx: FitContext
    ) -> tuple[torch.Tensor, np.ndarray]:
        """All model inputs (resized frames or tiles) and the image each row came from."""
        chunks, owner = [], []
        n = len(self.items)
        for i in range(n):
            x = model_inputs([self.frame(i)], size, pre)
            chunks.append(x)
            owner.append(np.full(len(x), i, np.int64))
            if i % 20 == 0 or i == n - 1:
                ctx.report("load", i + 1, n, "reading images")
        return torch.cat(chunks), np.concatenate(owner)


class _GoodScores:
    """Calibration evidence: each scored good image's raw score, a bounded sample of its map's pixels
    (exact while all maps fit PIXEL_BUDGET, like fit_normalization's own cap), its group, and — for
    validation — its map at MAP_SIZE."""

    def __init__(self, n_images: int, seed: int, keep_maps: bool) -> None:
        self.budget = max(1, PIXEL_BUDGET // max(1, n_images))
        self.rng = np.random.default_rng(seed)
        self.keep_maps = keep_maps
        self.index: list[int] = []
        self.group: list[int] = []
        self.scores: list[float] = []
        self.pixels: list[np.ndarray] = []
        self.raws: list[RawPrediction] = []

    def add(self, i: int, group: int, raw: RawPrediction) -> None:
        flat = raw.raw_map.astype(np.float32, copy=False).ravel()
        if flat.size > self.budget:
            flat = flat[self.rng.integers(0, flat.size, self.budget)]
        self.index.append(i)
        self.group.append(group)
        self.scores.append(float(raw.raw_score))
        self.pixels.append(flat)
        if self.keep_maps:
            self.raws.append(raw)

    def normalization(self) -> Normalization:
        return fit_normalization(np.array(self.scores), np.concatenate(self.pixels))

    def stability(self, norm: Normalization) -> tuple[int, tuple[float, ...], float | None, int]:
        """(groups, normalised leave-group-out thresholds, their spread / good spread, rejects)."""
        s, g = np.array(self.scores), np.array(self.group)
        groups = np.unique(g)
        if len(groups) < 2:
            return len(groups), (), None, 0
        ts, rejects = [], 0
        for f in groups:
            rest = s[g != f]
            t = fit_normalization(rest, np.zeros(1, np.float32)).image_threshold
            ts.append(t)
            rejects += int((s[g == f] > t).sum())
        good_spread = max(norm.image_threshold - norm.image_reference, 1e-12)
        spread = (max(ts) - min(ts)) / good_spread
        normed = tuple(round(float(norm.score_unfloored(np.float64(t))), 6) for t in ts)
        return len(groups), normed, round(float(spread), 6), rejects


def _predict(
    inspector: Inspector, frames: Callable[[int], np.ndarray], idx: Sequence[int], ctx: FitContext, stage: str
) -> list[RawPrediction]:
    out: list[RawPrediction] = []
    step = 8
    for j in range(0, len(idx), step):
        out += inspector.predict_raw([frames(int(i)) for i in idx[j : j + step]])
        ctx.report(stage, min(len(idx), j + step), len(idx), "scoring good images")
    return out


def _fit_one(
    model_name: str,
    options: dict[str, Any],
    x: torch.Tensor,
    ctx: FitContext,
    init_from: ModelBundle | None = None,
    resume: bool = False,
) -> AnomalyModel:
    model = create_model(model_name, **options)
    if init_from is not None:
        continue_from(model, init_from, resume)
    torch.manual_seed(ctx.seed)
    np.random.seed(ctx.seed % (2**32))
    model.to(ctx.device)
    model.fit(x, ctx)
    model.eval()
    return model


def _validation_items(
    names: list[tuple[Path, int, str]], raws: list[RawPrediction], norm: Normalization, size: tuple[int, int]
) -> list[ValidationItem]:
    """ValidationItems from predictions already made (no second inference of the scored images)."""
    mh, mw = (min(int(s), MAP_SIZE) for s in size)
    out = []
    for (path, label, kind), raw in zip(names, raws, strict=True):
        small = cv2.resize(raw.raw_map.astype(np.float32), (mw, mh), interpolation=cv2.INTER_AREA)
        out.append(
            ValidationItem(
                path, label, kind, float(norm.score(raw.raw_score)), raw.raw_score, small, None,
                raw.raw_map.shape,
            )
        )  # fmt: skip
    return out


def fit_calibrate(
    model_name: str,
    good: Sequence[ImageLike] | torch.Tensor,
    ctx: FitContext | None = None,
    options: dict[str, Any] | None = None,
    preprocessing: Preprocessing | None = None,
    holdout: float | None = None,
    defective: Sequence[ImageLike] = (),
    validate: bool = False,
    info: dict[str, Any] | None = None,
    init_from: ModelBundle | None = None,
    resume: bool = False,
) -> FitResult:
    """Create, fit and calibrate a model on good frames (arrays or paths, at native resolution);
    validate it on the scored good frames plus `defective` ones when `validate` or `defective` is given.

    holdout: None = cross-fit a fast model (≤ CROSS_FIT_MAX images), else hold out HOLDOUT; a fraction
    = a plain hold-out of that share; 0 = calibrate on the training images. `init_from` continues
    training a saved model (see continue_from; resume=True continues its schedule, with its options).
    Cancelling through ctx raises CancelledError at the next progress report.
    """
    ctx = ctx or FitContext()
    pre = preprocessing or Preprocessing()
    frames = _Frames(good)
    n = len(frames)
    if n == 0:
        raise DataError("no good images to train on")
    if resume and init_from is None:
        raise DataError("resume needs the saved model to continue")
    if resume and init_from is not None:  # the schedule is only the same with the same options
        model_name = init_from.model.name
        options = {**dataclasses.asdict(init_from.model.config), **(options or {})}
    opts = dict(options or {})
    method, fraction = calibration_method(model_name, n, holdout, continuing=init_from is not None)
    if method != METHOD_TRAINING and n < 2:
        raise DataError(f"need at least 2 good images to train and calibrate (have {n})")
    try:  # the input size, and bad options, before any slow work
        h, w = get_model_info(model_name).cls.Config.from_dict(opts).image_size
    except (TypeError, ValueError) as exc:
        raise UnknownModelError(f"model {model_name!r}: {exc}") from None  # as create_model says it
    t0 = time.perf_counter()
    x, owner = frames.inputs((int(h), int(w)), pre, ctx)
    t1 = time.perf_counter()

    def rows(images: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.flatnonzero(np.isin(owner, images)))

    keep = validate or bool(defective)
    scored = _GoodScores(n, ctx.seed, keep)
    everything = np.arange(n)
    if method == METHOD_CROSS_FIT:
        k = choose_folds(n)
        folds = fold_ids(n, k, ctx.seed)
        for f in range(k):
            ctx.report("cross-fit", f, k + 1, f"fold {f + 1} of {k}: fitting on the other folds")
            part = _fit_one(model_name, opts, x[rows(everything[folds != f])], ctx)
            insp = Inspector(ModelBundle(part, Normalization.identity()), preprocessing=pre)
            held = everything[folds == f]
            for i, raw in zip(held, _predict(insp, frames.frame, held, ctx, "calibrate"), strict=True):
                scored.add(int(i), f, raw)
        ctx.report("cross-fit", k, k + 1, "fitting the final model on every image")
        model = _fit_one(model_name, opts, x, ctx)
        n_fit = n
    else:
        tr, ho = (
            split_holdout(n, fraction, ctx.seed)
            if method in (METHOD_HOLDOUT, METHOD_HOLDOUT_REFIT)
            else (everything, everything)
        )
        model = _fit_one(model_name, opts, x[rows(tr)], ctx, init_from, resume)
        n_fit = len(tr)
        insp = Inspector(ModelBundle(model, Normalization.identity()), preprocessing=pre)
        groups = (
            fold_ids(len(ho), choose_folds(len(ho)), ctx.seed) if len(ho) >= 2 else np.zeros(len(ho), int)
        )
        for g, i, raw in zip(groups, ho, _predict(insp, frames.frame, ho, ctx, "calibrate"), strict=True):
            scored.add(int(i), int(g), raw)
        if method == METHOD_HOLDOUT_REFIT:
            ctx.report("refit", 0, 1, "fitting the final model on every image")
            model = _fit_one(model_name, opts, x, ctx)
            n_fit = n
    del x
    t2 = time.perf_counter()
    norm = scored.normalization()
    n_groups, fold_t, spread, rejects = scored.stability(norm)
    facts = CalibrationFacts(
        method, pre, n, n_fit, len(scored.scores), n_groups, fold_t, spread, rejects
    )  # fmt: skip
    sched = model.extra_state().get("schedule")  # a resumable model's: did this run end early?
    meta: dict[str, Any] = {
        "n_train": int(n_fit),
        "n_holdout": int(n - n_fit),
        "fit_seconds": round(t2 - t1, 3),
        "device": device_label(ctx.device),
        "calibration": facts.to_dict(),
        **(
            {
                "continued_from_saved": init_from.info.get("saved", "unknown"),
                "total_fit_seconds": round(
                    float(init_from.info.get("total_fit_seconds", init_from.info.get("fit_seconds", 0.0)))
                    + (t2 - t1),
                    3,
                ),
            }
            if init_from is not None
            else {}
        ),
        **({"schedule_finished": bool(sched.get("finished"))} if sched else {}),
        **(info or {}),
    }
    bundle = ModelBundle(model, norm, meta)
    validation = None
    if keep:
        final = Inspector(bundle, preprocessing=pre)
        bad = _Frames(defective)
        bad_raws = _predict(final, bad.frame, range(len(bad)), ctx, "validate") if len(bad) else []
        names = [(frames.name(i), 0, GOOD) for i in scored.index]
        names += [(bad.name(i, "defective"), 1, "defective") for i in range(len(bad))]
        items = _validation_items(names, scored.raws + bad_raws, norm, model.image_size)
        validation = ValidationRun(items, norm, final.settings, bundle.name)
    t3 = time.perf_counter()
    timings = {"load": t1 - t0, "fit": t2 - t1, "calibrate_validate": t3 - t2, "total": t3 - t0}
    return FitResult(bundle, facts, validation, timings)


def train_model(
    model_name: str,
    images: Sequence[ImageLike] | torch.Tensor,
    ctx: FitContext | None = None,
    holdout: float | None = HOLDOUT,
    options: dict[str, Any] | None = None,
    info: dict[str, Any] | None = None,
    init_from: ModelBundle | None = None,
    resume: bool = False,
) -> ModelBundle:
    """`fit_calibrate` on resized frames, returning only the bundle (model tests and scripts)."""
    return fit_calibrate(
        model_name, images, ctx, options, holdout=holdout, info=info, init_from=init_from, resume=resume
    ).bundle
