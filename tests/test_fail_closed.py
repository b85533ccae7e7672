"""Fail closed: a NaN or infinity in a model file is refused at load, a NaN at run time is an NG with an
alarm (host and device post-processing alike), and model.json / settings are validated with one clear
line instead of a traceback."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from _tiny_data import defective, texture, train_tiny
from safetensors.torch import load_file, save_file

from inspection_core.cli import main
from inspection_core.errors import ModelFileError
from inspection_core.inspector import Inspector, Preprocessing
from inspection_core.models import load_bundle, save_bundle
from inspection_core.models.bundle import META, WEIGHTS
from inspection_core.postprocess.device import DevicePostprocessor
from inspection_core.postprocess.normalization import Normalization
from inspection_core.postprocess.settings import PostprocessSettings, postprocess_map
from inspection_core.types import Verdict


@pytest.fixture(scope="module")
def bundle():  # noqa: ANN201 - ModelBundle
    return train_tiny()


@pytest.fixture
def saved(bundle, tmp_path: Path) -> Path:  # noqa: ANN001
    return save_bundle(bundle, tmp_path / "m")


def _edit_meta(d: Path, edit) -> None:  # noqa: ANN001
    meta = json.loads((d / META).read_text())
    edit(meta)
    (d / META).write_text(json.dumps(meta))  # json writes NaN as the bare word NaN


def _images(n: int = 6) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    return [texture(rng) for _ in range(n // 2)] + [defective(rng)[0] for _ in range(n - n // 2)]


# --- refused at load -------------------------------------------------------------------------------
def test_a_nan_memory_bank_is_refused_at_load(saved: Path) -> None:
    tensors = load_file(str(saved / WEIGHTS))
    key = next(k for k in sorted(tensors) if k.endswith("memory_bank"))
    tensors[key] = torch.full_like(tensors[key], float("nan"))
    save_file(tensors, str(saved / WEIGHTS))
    with pytest.raises(ModelFileError, match="memory_bank holds NaN"):
        load_bundle(saved)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda m: m["normalization"].update(image_threshold=float("nan")),
            "image_threshold is not a finite",
        ),
        (lambda m: m["normalization"].update(pixel_reference=float("inf")), "not a finite number"),
        (lambda m: m["normalization"].update(image_threshold="0.5"), "image_threshold must be a finite"),
        (lambda m: m.pop("normalization"), "no 'normalization'"),
        (
            lambda m: m["config"].update(smoothing_sigma=float("nan")),
            "config.smoothing_sigma is not a finite",
        ),
        (lambda m: m["config"].update(blocks=[99]), "blocks must be indices"),
        (lambda m: m["config"].update(image_size="big"), "image_size must be a list"),
        (lambda m: m["config"].update(image_size=[-64, 64]), "image_size must be 1..16384"),
        (lambda m: m["config"].update(coreset_size="many"), "coreset_size must be a whole number"),
        (lambda m: m["config"].update(turbo=True), "unknown option"),
        (lambda m: m.update(config=[1, 2]), "'config' must be an object"),
        (lambda m: m.update(info="x"), "'info' must be an object"),
        (lambda m: m.update(model=5), "no model name"),
    ],
)
def test_a_bad_model_json_is_one_clear_line(saved: Path, edit, message: str, capsys) -> None:  # noqa: ANN001
    _edit_meta(saved, edit)
    with pytest.raises(ModelFileError, match=message) as exc:
        load_bundle(saved)
    assert "\n" not in str(exc.value)
    img = saved.parent / "a.png"
    from inspection_core.data import imwrite

    imwrite(img, texture(np.random.default_rng(0)))
    code = main(["predict", "--model-dir", str(saved), str(img), "--out", str(saved.parent / "o")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("aoi: error:") and len(err.strip().splitlines()) == 1


def test_a_huge_model_json_is_refused_unread(saved: Path) -> None:
    with open(saved / META, "r+b") as fh:
        fh.truncate(17 << 20)  # sparse: nothing is written, the size alone must refuse it
    with pytest.raises(ModelFileError, match="too large"):
        load_bundle(saved)


def test_normalization_from_dict_checks_types() -> None:
    good = Normalization.identity().to_dict()
    assert Normalization.from_dict(good) == Normalization.identity()
    for bad in (
        {**good, "pixel_threshold": None},
        {**good, "image_reference": True},
        {**good, "n_images": -1},
    ):
        with pytest.raises(ValueError, match="normalization"):
            Normalization.from_dict(bad)


def test_a_model_with_nan_calibration_is_not_saved(bundle, tmp_path: Path) -> None:  # noqa: ANN001
    nan_norm = replace(bundle.normalization, pixel_threshold=float("nan"))
    with pytest.raises(ModelFileError, match="not a number"):
        save_bundle(type(bundle)(bundle.model, nan_norm, bundle.info), tmp_path / "m")
    assert not (tmp_path / "m").exists()


# --- NG with an alarm at run time ------------------------------------------------------------------
def _nan_model(saved: Path):  # noqa: ANN202 - ModelBundle
    """A loaded model whose memory bank turns NaN afterwards (a broken GPU, a bad driver): every
    distance, map and score it gives is NaN."""
    b = load_bundle(saved)
    banks = [t for name, t in b.model.named_buffers() if name.endswith("memory_bank")]
    assert banks
    for t in banks:
        t.fill_(float("nan"))
    return b


@pytest.mark.parametrize(
    "pre",
    [Preprocessing(), Preprocessing(tile=True), Preprocessing(tile=True, whole_frame=True)],
    ids=["resized", "tiles", "whole-frame"],
)
@pytest.mark.parametrize("on_device", [False, True], ids=["host", "device"])
def test_nan_output_is_ng_with_an_alarm_for_every_image(
    saved: Path, pre: Preprocessing, on_device: bool
) -> None:
    insp = Inspector(_nan_model(saved), preprocessing=pre, post_on_device=on_device)
    assert insp.posts_on_device == (on_device and pre.tile)
    for img in _images():
        res = insp.inspect(img)
        assert res.verdict is Verdict.NG and res.is_ng
        assert res.has_alarm and "not a number" in res.alarm
        assert math.isnan(res.score) and np.isfinite(res.anomaly_map).all()
        json.dumps(res.summary(), allow_nan=False)  # the records and the CLI write it as JSON
        assert res.summary()["alarm"] == res.alarm


@pytest.mark.parametrize("on_device", [False, True], ids=["host", "device"])
def test_nan_calibration_is_ng_with_an_alarm(bundle, on_device: bool) -> None:  # noqa: ANN001
    b = type(bundle)(bundle.model, replace(bundle.normalization, image_threshold=float("nan")), {})
    insp = Inspector(b, preprocessing=Preprocessing(tile=True), post_on_device=on_device)
    for img in _images(2):
        res = insp.inspect(img)
        assert res.is_ng and "calibration is not a number" in res.alarm


def test_a_single_bad_pixel_is_an_alarm_on_both_paths() -> None:
    rng = np.random.default_rng(0)
    raw = rng.uniform(0.0, 0.3, (48, 64)).astype(np.float32)
    norm, settings = Normalization.identity(), PostprocessSettings(smoothing_sigma=1.0)
    ok = postprocess_map(raw, 0.2, norm, settings)
    assert ok.verdict is Verdict.OK and not ok.alarm
    for bad in (float("nan"), float("inf"), -float("inf")):
        broken = raw.copy()
        broken[10, 20] = bad
        host = postprocess_map(broken, 0.2, norm, settings)
        dev = DevicePostprocessor().run(torch.from_numpy(broken), 0.2, norm, settings)
        for out in (host, dev):
            assert out.verdict is Verdict.NG and "not a number" in out.alarm and math.isnan(out.score)
        np.testing.assert_allclose(host.anomaly_map, dev.anomaly_map, atol=1e-5)
    for out in (
        postprocess_map(raw, float("nan"), norm, settings),
        DevicePostprocessor().run(torch.from_numpy(raw), float("inf"), norm, settings),
    ):
        assert out.verdict is Verdict.NG and out.alarm


# --- settings validate their ranges ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("kw", "name"),
    [
        ({"image_threshold": float("nan")}, "image_threshold"),
        ({"pixel_threshold": float("inf")}, "pixel_threshold"),
        ({"pixel_threshold": "0.5"}, "pixel_threshold"),
        ({"min_defect_area": -1}, "min_defect_area"),
        ({"min_defect_area": 2.5}, "min_defect_area"),
        ({"smoothing_sigma": 1e9}, "smoothing_sigma"),
        ({"smoothing_sigma": -1.0}, "smoothing_sigma"),
        ({"morphology_radius": True}, "morphology_radius"),
        ({"pixel_size_mm": 0.0}, "pixel_size_mm"),
    ],
)
def test_postprocess_settings_refuse_out_of_range_values(kw: dict, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        PostprocessSettings(**kw)
    with pytest.raises(ValueError, match=name):
        PostprocessSettings.from_dict(kw)


@pytest.mark.parametrize(
    ("kw", "name"),
    [
        ({"overlap": 1.0}, "overlap"),
        ({"overlap": -0.1}, "overlap"),
        ({"overlap": float("nan")}, "overlap"),
        ({"scale": 0.0}, "scale"),
        ({"scale": 2.0}, "scale"),
        ({"max_batch": 0}, "max_batch"),
        ({"tile": "yes"}, "tile"),
    ],
)
def test_preprocessing_refuses_out_of_range_values(kw: dict, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        Preprocessing(**kw)
    with pytest.raises(ValueError, match=name):
        Preprocessing.from_dict(kw)


def test_every_models_default_options_pass_the_checks() -> None:
    from inspection_core.models import list_models

    for m in list_models():
        cfg = m.cls.Config()
        assert m.cls.Config.from_dict(cfg.to_dict()) == cfg, m.name
