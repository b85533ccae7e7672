"""Fit a model on good images, then calibrate its normalisation on held-out good images.

The same pipeline serves `aoi train`, the GUI's training workspace and the tests.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from inspection_core.data.imageio import imread, to_rgb_float
from inspection_core.errors import DataError
from inspection_core.models.base import AnomalyModel
from inspection_core.models.batching import predict_tensor
from inspection_core.models.bundle import ModelBundle
from inspection_core.models.registry import create_model, get_model_info
from inspection_core.postprocess.normalization import fit_normalization
from inspection_core.runtime.context import FitContext, device_label

ImageLike = np.ndarray | str


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


def train_model(
    model_name: str,
    images: Sequence[ImageLike] | torch.Tensor,
    ctx: FitContext | None = None,
    holdout: float = 0.2,
    options: dict[str, Any] | None = None,
    info: dict[str, Any] | None = None,
    init_from: ModelBundle | None = None,
    resume: bool = False,
) -> ModelBundle:
    """Create, fit and calibrate a model. Needs ≥ 2 good images (1 to fit, 1 to calibrate).

    With holdout=0 the normalisation is calibrated on the training images themselves (optimistic:
    thresholds come out low); the GUI and CLI always hold some out. `init_from` continues training
    a saved model (see continue_from; resume=True continues its schedule, with its options). A
    resumable model ends early once ctx.stop_at passes; `info["schedule_finished"]` says whether it did.
    """
    ctx = ctx or FitContext()
    n = len(images)
    if n == 0:
        raise DataError("no good images to train on")
    if holdout > 0 and n < 2:
        raise DataError("need at least 2 good images (one is held out to calibrate thresholds)")
    if resume and init_from is None:
        raise DataError("resume needs the saved model to continue")
    if resume and init_from is not None:  # the schedule is only the same with the same options
        options = {**dataclasses.asdict(init_from.model.config), **(options or {})}
    model = create_model(model_name, **(options or {}))
    if init_from is not None:
        continue_from(model, init_from, resume)
    torch.manual_seed(ctx.seed)
    np.random.seed(ctx.seed % (2**32))
    t0 = time.perf_counter()
    data = images if isinstance(images, torch.Tensor) else load_images(images, model.image_size, ctx)
    tr, ho = split_holdout(n, holdout, ctx.seed)
    model.to(ctx.device)
    model.fit(data[torch.from_numpy(tr)], ctx)
    model.eval()
    t_fit = time.perf_counter() - t0
    ctx.report("calibrate", 0, 1, "calibrating thresholds on held-out good images")
    cal = data[torch.from_numpy(ho)] if len(ho) else data[torch.from_numpy(tr)]
    maps, scores = predict_tensor(model, cal)
    norm = fit_normalization(scores, maps)
    ctx.report("calibrate", 1, 1, "done")
    sched = model.extra_state().get("schedule")  # a resumable model's: did this run end early?
    meta = {
        "n_train": int(len(tr)),
        "n_holdout": int(len(ho)),
        "fit_seconds": round(t_fit, 3),
        "device": device_label(ctx.device),
        **(
            {
                "continued_from_saved": init_from.info.get("saved", "unknown"),
                "total_fit_seconds": round(
                    float(init_from.info.get("total_fit_seconds", init_from.info.get("fit_seconds", 0.0)))
                    + t_fit,
                    3,
                ),
            }
            if init_from is not None
            else {}
        ),
        **({"schedule_finished": bool(sched.get("finished"))} if sched else {}),
        **(info or {}),
    }
    return ModelBundle(model, norm, meta)
