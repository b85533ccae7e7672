"""The AnomalyModel contract, checked for every registered model (like anomalib's test over all models):
reachable by name, options that survive config → dict → JSON → config, fit on a tiny set with progress,
finite maps and scores of the right shape, cancel, finish-now, identical outputs after save/load, and
bad options as one clear error. Model-specific behaviour stays in tests/test_model_<name>.py.

A model registered without an entry in TINY fails `test_every_registered_model_has_tiny_options`: give
it options that fit in a few seconds on two CPU cores.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import inspect
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from inspection_core.errors import AoiError, CancelledError, UnknownModelError
from inspection_core.models import (
    AnomalyModel,
    ModelBundle,
    create_model,
    get_model_info,
    list_models,
    load_bundle,
    save_bundle,
)
from inspection_core.postprocess.normalization import fit_normalization
from inspection_core.runtime import CancelToken, FitContext
from inspection_core.runtime.context import ProgressEvent

NAMES = [m.name for m in list_models()]
SIDN_TINY = "channels=4 clusters=3 batch_size=4 image_size=32x32 median_kernel=3 epochs=2 workers=0"

# options that make each model fit in about a second on one CPU thread
TINY: dict[str, dict[str, Any]] = {
    "patchcore": {"image_size": (64, 64), "coreset_size": 200},
    "bfdf": {
        "image_size": (64, 64),
        "channels": 16,
        "batch_size": 4,
        "steps": 3,
        "n_references": 2,
        "workers": 0,
    },
    "fusion": {"image_size": (64, 64), "patchcore_options": "coreset_size=200", "sidn_options": SIDN_TINY},
    "ndpnet": {
        "image_size": (32, 32),
        "width": 4,
        "batch_size": 4,
        "epochs": 1,
        "phase2_epochs": 1,
        "workers": 0,
        "perceptual_weight": 0.0,  # skips loading a second pretrained network (tested in test_model_ndpnet)
    },
    "sclvi": {
        "image_size": (64, 64),
        "width": 0.125,
        "embed_dim": 16,
        "epochs": 1,
        "steps_per_epoch": 3,
        "batch_size": 4,
        "memory_size": 2000,
        "smoothing_sigma": 1.0,
    },
    "sidn": {
        "channels": 4,
        "clusters": 3,
        "batch_size": 4,
        "image_size": (32, 32),
        "median_kernel": 3,
        "epochs": 2,
    },
}
# on top of TINY: a schedule far longer than a test may take, so only finish-now can end it in time
# (PatchCore has no training loop: finish-now changes nothing there)
LONG: dict[str, dict[str, Any]] = {
    "patchcore": {},
    "bfdf": {"steps": 10_000},
    "fusion": {"sidn_options": SIDN_TINY.replace("epochs=2", "epochs=5000")},
    "ndpnet": {"epochs": 5000, "phase2_epochs": 5000},
    "sclvi": {"epochs": 5000},
    "sidn": {"epochs": 5000},
}
# (options on top of TINY, what the one-line error must say); raised by create_model or, for options
# only training reads, by fit
BAD: dict[str, list[tuple[dict[str, Any], str]]] = {
    "patchcore": [({"map_blocks": (5,)}, "map_blocks")],
    "bfdf": [
        ({"blocks": (2, 4)}, "blocks"),
        ({"blocks": (2, 4, 12, 14)}, "double in stride"),
        ({"foreground": "magic"}, "foreground"),
        ({"same_prob": 0.7, "reference_prob": 0.5}, "same-prob"),
        ({"w_focal": 0.0, "w_l1": 0.0, "w_dice": 0.0}, "loss weights"),
    ],
    "fusion": [
        ({"sidn_options": "chanels=4"}, "sidn option 'chanels=4'"),
        ({"map_weight": 1.5}, "map_weight"),
    ],
    "ndpnet": [
        ({"width": 0}, "width"),
        ({"fills": "lava"}, "ndpnet: bad --fills"),
        ({"blend_max": 1.0}, "blend-max"),
        ({"lr_schedule": "linear"}, "lr_schedule"),
    ],
    "sclvi": [
        ({"image_size": (48, 48)}, "at least 64"),
        ({"stride_64": 6}, "stride_64"),
        ({"fusion": "max"}, "fusion"),
    ],
    "sidn": [({"median_kernel": 4}, "median_kernel"), ({"fills": "noise,glitter"}, "fills")],
}
TIME_BOX_HELP = "stop training after this many seconds (0 = run all epochs/steps)"


def images(name: str, n: int, seed: int = 0) -> torch.Tensor:
    """(n, 3, H, W) striped grey textures with noise in [0, 1] at the model's tiny input size."""
    h, w = TINY[name]["image_size"]
    rng = np.random.default_rng(seed)
    xx = np.mgrid[0:h, 0:w][1].astype(np.float32)
    out = [
        np.clip(0.5 + 0.25 * np.sin(0.8 * xx + rng.uniform(0, 6.28)) + rng.normal(0, 0.05, (h, w)), 0, 1)
        for _ in range(n)
    ]
    return torch.from_numpy(np.repeat(np.stack(out)[:, None], 3, axis=1).astype(np.float32))


def train_module(name: str) -> ModuleType | None:
    """The model folder's train.py (models with a training loop), or None."""
    folder = get_model_info(name).cls.__module__.rpartition(".")[0]
    if importlib.util.find_spec(f"{folder}.train") is None:
        return None
    return importlib.import_module(f"{folder}.train")


@pytest.fixture(scope="module", params=NAMES)
def fitted(request: pytest.FixtureRequest) -> tuple[str, AnomalyModel, list[ProgressEvent]]:
    """Each model fitted once on its tiny set (shared by the tests that only read it)."""
    name = request.param
    torch.manual_seed(0)
    events: list[ProgressEvent] = []
    model = create_model(name, **TINY[name])
    model.fit(images(name, 4), FitContext(progress=events.append, seed=1))
    return name, model, events


def test_every_registered_model_has_tiny_options() -> None:
    assert set(NAMES) == set(TINY) == set(LONG) == set(BAD)


def test_unknown_model_name_is_a_clear_error_listing_the_models() -> None:
    with pytest.raises(UnknownModelError, match="unknown model 'nope'; registered models: .*patchcore"):
        create_model("nope")


@pytest.mark.parametrize("name", NAMES)
def test_registered_and_reachable_by_name(name: str) -> None:
    info = get_model_info(name)  # create_model(name) itself is what the other tests build models with
    assert info.name == info.cls.name == name and info.summary
    assert issubclass(info.cls, AnomalyModel) and info.cls.version >= 1
    assert all(help_ for _, _, help_ in info.options), "every option needs a help text (CLI, GUI form)"
    with pytest.raises(UnknownModelError, match=f"model '{name}'.*no_such_option"):
        create_model(name, no_such_option=1)


@pytest.mark.parametrize("name", NAMES)
def test_model_folder_has_the_shared_skeleton(name: str) -> None:
    """model.py registers the model; a training loop lives in train.py behind `fit(model, images, ctx)`."""
    folder, _, module = get_model_info(name).cls.__module__.rpartition(".")
    assert module == "model" and folder.startswith("inspection_core.models.")
    train = train_module(name)
    if train is not None:
        assert list(inspect.signature(train.fit).parameters) == ["model", "images", "ctx"]


@pytest.mark.parametrize("name", NAMES)
def test_options_round_trip_through_json(name: str) -> None:
    config_cls = get_model_info(name).cls.Config
    for cfg in (config_cls(), config_cls.from_dict(dict(TINY[name]))):
        saved = json.loads(json.dumps(cfg.to_dict()))
        assert config_cls.from_dict(saved) == cfg
        assert config_cls.from_saved(saved) == cfg
    assert set(config_cls().to_dict()) == {f.name for f in dataclasses.fields(config_cls)}


@pytest.mark.parametrize("name", [n for n in NAMES if train_module(n) is not None])
def test_a_training_loop_has_the_shared_time_box_option(name: str) -> None:
    options = {n: h for n, _, h in get_model_info(name).options}
    assert options.get("max_seconds") == TIME_BOX_HELP


def test_fit_reports_progress_and_predicts_finite_maps(fitted: tuple[str, AnomalyModel, list]) -> None:
    name, model, events = fitted
    assert type(model) is get_model_info(name).cls
    assert events, "fit must report progress"
    assert all(0 <= e.step <= e.total for e in events), [(e.stage, e.step, e.total) for e in events]
    assert all(np.isfinite(e.loss) for e in events if e.loss is not None)
    assert not model.training, "fit leaves the model in eval mode"
    h, w = model.image_size
    maps, scores = model.predict(images(name, 3, seed=7))
    assert maps.shape == (3, h, w) and scores.shape == (3,)
    assert maps.dtype == scores.dtype == torch.float32
    assert torch.isfinite(maps).all() and torch.isfinite(scores).all()


def test_save_load_gives_the_same_outputs(fitted: tuple[str, AnomalyModel, list], tmp_path: Path) -> None:
    name, model, _ = fitted
    x = images(name, 2, seed=9)
    maps, scores = model.predict(x)
    bundle = ModelBundle(model, fit_normalization(scores.numpy(), maps.numpy()), {"note": "contract"})
    path = save_bundle(bundle, tmp_path / "m")
    saved = load_file(str(path / "model.safetensors"))
    prefixes = model.pretrained_prefixes
    assert not prefixes or not any(k.startswith(prefixes) for k in saved), "shipped weights are not copied"
    loaded = load_bundle(path)
    assert type(loaded.model) is type(model) and not loaded.model.training
    assert loaded.model.config == model.config and loaded.normalization == bundle.normalization
    assert json.dumps(loaded.model.extra_state(), sort_keys=True) == json.dumps(
        model.extra_state(), sort_keys=True
    )
    maps2, scores2 = loaded.model.predict(x)
    assert torch.equal(maps2, maps) and torch.equal(scores2, scores)


@pytest.mark.timeout(60)  # LONG runs for hours if the fit ignores the request
@pytest.mark.parametrize("name", NAMES)
def test_cancel_stops_fit_at_the_next_report(name: str) -> None:
    token, events = CancelToken(), []

    def cancel_at_first(ev: ProgressEvent) -> None:
        events.append(ev)
        token.cancel()

    model = create_model(name, **{**TINY[name], **LONG[name]})
    with pytest.raises(CancelledError):
        model.fit(images(name, 6), FitContext(progress=cancel_at_first, cancel=token))
    assert len(events) == 1, "no progress after the cancel"


@pytest.mark.timeout(60)  # LONG runs for hours if the fit ignores the request
@pytest.mark.parametrize("name", NAMES)
def test_finish_now_ends_training_early_and_keeps_a_usable_model(name: str) -> None:
    events: list[ProgressEvent] = []
    ctx = FitContext(progress=events.append)
    ctx.finish_now()
    model = create_model(name, **{**TINY[name], **LONG[name]})
    model.fit(images(name, 4), ctx)
    steps = [e for e in events if e.loss is not None]  # training steps report their loss
    if LONG[name]:
        assert steps and max(e.step for e in steps) <= 2 and steps[0].total >= 1000
    maps, scores = model.predict(images(name, 2, seed=3))
    assert torch.isfinite(maps).all() and torch.isfinite(scores).all()


@pytest.mark.parametrize(
    ("name", "bad", "message"), [(n, b, m) for n in NAMES for b, m in BAD[n]], ids=lambda v: str(v)[:30]
)
def test_bad_options_are_one_clear_error(name: str, bad: dict[str, Any], message: str) -> None:
    with pytest.raises(AoiError, match=message) as err:
        model = create_model(name, **{**TINY[name], **bad})
        model.fit(images(name, 4), FitContext())
    assert "\n" not in str(err.value), "one line: the CLI prints it as is, the GUI in a banner"
