"""The one fit → calibrate → validate pipeline: the CLI, the training workspace and the demo share it;
cross-fitted calibration keeps every good image in the model and measures the threshold's stability."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from _tiny_data import SIZE, defective, texture

from app.demo import fit_on_frames
from inspection_core.cli import main
from inspection_core.data.imageio import imwrite
from inspection_core.inspector import Preprocessing
from inspection_core.models.bundle import load_bundle
from inspection_core.runtime.context import FitContext
from inspection_core.training import fit
from inspection_core.training.fit import (
    CROSS_FIT_MAX,
    HOLDOUT,
    METHOD_HOLDOUT_REFIT,
    CalibrationFacts,
    calibration_method,
    fit_calibrate,
)
from inspection_core.training.product import train_sample_set
from inspection_core.training.samples import SampleSet

TINY = {"image_size": (SIZE, SIZE), "coreset_size": 200}


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def _textures(n: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [texture(rng) for _ in range(n)]


def test_cli_workspace_and_demo_give_identical_thresholds(tmp_path: Path) -> None:
    images = _textures(8, seed=11)
    for i, im in enumerate(images):
        imwrite(tmp_path / "data" / "train" / "good" / f"{i:03d}.png", im)
    argv = ["train", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "cli"), "--device", "cpu"]
    assert main([*argv, "--image-size", str(SIZE), "--coreset-size", "200", "--seed", "3"]) == 0
    cli = load_bundle(tmp_path / "cli")

    samples = SampleSet(tmp_path / "samples")
    for im in images:
        samples.add(im)
    workspace = train_sample_set(samples, options=TINY, ctx=FitContext(seed=3))
    demo = fit_on_frames(images, FitContext(seed=3), Preprocessing(), TINY, holdout=None)

    facts = [CalibrationFacts.of(b) for b in (cli, workspace.bundle, demo)]
    assert all(f is not None and f.method == "cross-fit" and f.n_fit == 8 for f in facts)
    ref = cli.normalization
    for other in (workspace.bundle.normalization, demo.normalization):
        assert other.image_threshold == pytest.approx(ref.image_threshold, rel=1e-6)
        assert other.image_reference == pytest.approx(ref.image_reference, rel=1e-6)
        assert other.pixel_threshold == pytest.approx(ref.pixel_threshold, rel=1e-6)
    assert facts[0] == facts[1] == facts[2]  # same folds, same stability evidence


def test_cross_fit_keeps_every_image_and_reports_the_thresholds_stability(tmp_path: Path) -> None:
    good = _textures(10, seed=5)
    res = fit_calibrate("patchcore", good, options=TINY, validate=True)
    cal = res.calibration
    assert (cal.method, cal.folds, cal.n_fit, cal.n_scored) == ("cross-fit", 5, 10, 10)
    assert res.bundle.info["n_train"] == 10 and len(cal.fold_thresholds) == 5
    # a threshold computed without a fold exceeds the one from every scored image (0.5) only through the
    # margin's dependence on the median good score: never by much
    assert max(cal.fold_thresholds) <= 0.51 and cal.threshold_spread is not None
    assert res.validation is not None and res.validation.n_good == 10
    assert res.validation.confusion(0.5).fp == 0  # no scored good image is above its own threshold
    saved = load_bundle(res.bundle.save(tmp_path / "m"))
    assert CalibrationFacts.of(saved) == cal  # the facts, preprocessing included, travel with the model
    assert "preprocessing" not in saved.info

    # one good image unlike the others: the threshold hangs on it, and the facts say so (a score that
    # is the single highest patch of every patch, so the tiny 8×8-patch images give a steady threshold
    # without it)
    good = _textures(15, seed=5)
    opts = {**TINY, "score_topk": 1, "score_stride": 1}
    steady = fit_calibrate("patchcore", good, options=opts).calibration
    odd = cv2.GaussianBlur(good[0], (0, 0), 3.0)
    odd = np.clip(odd.astype(np.int16) * 2 - 128, 0, 255).astype(np.uint8)
    shaky = fit_calibrate("patchcore", [*good[1:], odd], options=opts).calibration
    assert steady.stable and "enough" in steady.advice()
    assert shaky.threshold_spread is not None and shaky.threshold_spread > steady.threshold_spread
    assert not shaky.stable and "not enough" in shaky.advice()


def test_plain_holdout_and_calibration_choice() -> None:
    assert calibration_method("patchcore", 16) == ("cross-fit", 0.0)
    assert calibration_method("patchcore", CROSS_FIT_MAX + 1) == (METHOD_HOLDOUT_REFIT, HOLDOUT)
    for loop_model in ("sidn", "ndpnet", "bfdf", "sclvi", "fusion"):  # k trainings would cost k× minutes
        assert calibration_method(loop_model, 16) == ("hold-out", HOLDOUT)
    assert calibration_method("patchcore", 16, holdout=0.25) == ("hold-out", 0.25)
    assert calibration_method("patchcore", 16, holdout=0.0) == ("training images", 0.0)
    res = fit_calibrate("patchcore", _textures(10, seed=6), options=TINY, holdout=0.3)
    assert (res.calibration.method, res.calibration.n_fit, res.calibration.n_scored) == ("hold-out", 7, 3)


def test_validate_adds_the_defective_images(tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    bad = [defective(rng)[0] for _ in range(3)]
    res = fit_calibrate("patchcore", _textures(6, seed=8), options=TINY, defective=bad)
    run = res.validation
    assert run is not None and (run.n_good, run.n_defective) == (6, 3)
    assert run.summary()["image_auroc"] > 0.5


def _steel_like(rng: np.random.Generator, h: int = 500, w: int = 1250) -> np.ndarray:
    """A non-square textured frame with uneven lighting towards its edges (as line-scan strips have)."""
    base = cv2.GaussianBlur(rng.normal(128, 18, (h, w)).astype(np.float32), (0, 0), 1.0)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r2 = (((yy - h / 2) / (h / 2)) ** 2 + ((xx - w / 2) / (w / 2)) ** 2) / 2
    return np.clip(base * (1 - 0.3 * r2) + rng.normal(0, 4), 0, 255).astype(np.uint8)


def test_tile_mode_calibrates_as_it_inspects_and_good_frames_pass_on_non_square_frames() -> None:
    rng = np.random.default_rng(21)
    frames = [_steel_like(rng) for _ in range(12)]  # each frame's brightness differs a little
    tiny = {
        "image_size": (64, 64),
        "coreset_size": 200,
        "max_patches": 5000,
    }  # the default banks (a stride-8-only bank sees too little context to tell an edge from a defect)
    pre = Preprocessing(tile=True, overlap=0.25, scale=0.5)
    res = fit_calibrate("patchcore", frames[:9], options=tiny, preprocessing=pre)
    assert res.calibration.preprocessing == pre and res.calibration.method == "cross-fit"
    insp = res.inspector()
    edge = 32  # native px: a region this close to the frame's edge is a border artefact
    for frame in frames[9:]:  # good frames the model never saw
        result = insp.inspect(frame)
        assert result.anomaly_map.shape == (500, 1250) and result.verdict == "OK", result.summary()
        for d in result.defects:
            x0, y0, x1, y1 = d.bbox
            assert min(x0, y0) >= edge and x1 <= 1250 - edge and y1 <= 500 - edge, d


def test_cli_trains_in_tile_mode_and_predict_inspects_as_calibrated(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    rng = np.random.default_rng(4)
    for i in range(6):
        imwrite(tmp_path / "data" / "train" / "good" / f"{i:03d}.png", _steel_like(rng, 96, 160))
    imwrite(tmp_path / "new.png", _steel_like(rng, 96, 160))
    base = ["train", "--data", str(tmp_path / "data"), "--device", "cpu", "--coreset-size", "200"]
    tiny = ["--blocks", "4", "--map-blocks=", "--feature-dim", "0"]
    assert main([*base, "--out", str(tmp_path / "x"), "--tile-size", "64"]) == 2  # needs --tile
    assert "need --tile" in capsys.readouterr().err
    assert (
        main([*base, "--out", str(tmp_path / "m"), "--tile", "--tile-size", "64", "--overlap", "0.5", *tiny])
        == 0
    )
    assert "calibrated by cross-fit on 6 good images (tiles frames)" in capsys.readouterr().out
    facts = CalibrationFacts.of(load_bundle(tmp_path / "m"))
    assert facts is not None and facts.preprocessing.tile and facts.preprocessing.overlap == 0.5
    argv = [
        "predict",
        "--model-dir",
        str(tmp_path / "m"),
        str(tmp_path / "new.png"),
        "--out",
        str(tmp_path / "p"),
    ]
    assert main([*argv, "--device", "cpu"]) == 0
    assert "warning" not in capsys.readouterr().err  # inspected in the tile mode it was calibrated in
    from inspection_core.data.imageio import imread
    from inspection_core.inspector import Inspector

    score = json.loads((tmp_path / "p" / "new.json").read_text())["score"]
    bundle, img = load_bundle(tmp_path / "m"), imread(tmp_path / "new.png")
    assert score == pytest.approx(
        Inspector(bundle, preprocessing=facts.preprocessing).inspect(img).score, abs=1e-4
    )
    assert score != pytest.approx(Inspector(bundle).inspect(img).score, abs=1e-4)  # not the resized mode


def test_many_images_hold_out_to_calibrate_then_the_final_model_has_them_all(monkeypatch) -> None:  # noqa: ANN001
    """Above CROSS_FIT_MAX a fast model is calibrated on a 20 % hold-out and then refitted on every
    image: the bank the development suite measured, for 2 fits instead of k + 1."""
    monkeypatch.setattr(fit, "CROSS_FIT_MAX", 6)
    res = fit_calibrate("patchcore", _textures(10, seed=8), options=TINY)
    cal = res.calibration
    assert (cal.method, cal.n_fit, cal.n_scored) == (METHOD_HOLDOUT_REFIT, 10, 2)
    assert res.bundle.info["n_train"] == 10 and res.bundle.info["n_holdout"] == 0
    plain = fit_calibrate("patchcore", _textures(10, seed=8), options=TINY, holdout=HOLDOUT).calibration
    assert (plain.method, plain.n_fit) == ("hold-out", 8)  # an explicit hold-out stays a hold-out
