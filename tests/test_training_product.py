"""Captured sample sets and the click-to-train pipeline (train → calibrate → validate → deploy)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from _tiny_data import SIZE, defective, texture

from inspection_core.errors import CancelledError, DataError
from inspection_core.recipes import RecipeStore
from inspection_core.runtime.context import FitContext
from inspection_core.training.product import deploy_product, train_product, train_sample_set
from inspection_core.training.samples import SampleSet
from inspection_core.types import Frame

TINY = {"image_size": (SIZE, SIZE), "coreset_size": 200}


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def test_samples_are_written_at_once_as_png_with_sidecar(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    s = SampleSet(tmp_path / "p" / "samples")
    img = texture(rng)
    frame = Frame(img, 7, 123, "sim", {"exposure_us": 500.0, "defect_mask": np.zeros((2, 2), bool)})
    a = s.add_frame(frame)
    assert a.path.is_file() and a.path.suffix == ".png"
    from inspection_core.data.imageio import imread

    assert np.array_equal(imread(a.path), img)  # lossless
    side = json.loads(a.sidecar.read_text())
    assert side["frame_id"] == 7 and side["source"] == "sim" and side["camera"] == {"exposure_us": 500.0}
    b = s.add(texture(rng), "defective")
    assert s.count("good") == 1 and s.count("defective") == 1 and b.path.parent.name == "defective"
    s.remove(a)
    assert s.count("good") == 0 and not a.sidecar.exists()
    c = s.add(texture(rng))
    assert c.id == 2  # numbers are not reused after a delete


def test_bad_captures_and_imports_are_clear_errors(tmp_path: Path) -> None:
    s = SampleSet(tmp_path)
    with pytest.raises(DataError, match="not an image"):
        s.add(np.zeros((3, 3), np.uint8))
    with pytest.raises(DataError, match="losslessly"):
        s.add(np.zeros((16, 16), np.float32))
    with pytest.raises(DataError, match="kind"):
        s.add(np.zeros((16, 16), np.uint8), "maybe")  # type: ignore[arg-type]
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "bad.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="corrupt"):
        s.import_files([tmp_path / "in"])
    assert s.count("good") == 0  # a bad file imports nothing


def test_import_folder(tmp_path: Path) -> None:
    from inspection_core.data.imageio import imwrite

    rng = np.random.default_rng(1)
    for i in range(3):
        imwrite(tmp_path / "in" / f"{i}.png", texture(rng))
    got = SampleSet(tmp_path / "s").import_files([tmp_path / "in"])
    assert [g.id for g in got] == [1, 2, 3] and got[0].meta["imported_from"].endswith("0.png")


def test_train_validate_deploy_and_retrain(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    s = SampleSet(tmp_path / "samples")
    for _ in range(10):
        s.add(texture(rng), meta={"camera": {"exposure_us": 800.0}})
    for _ in range(3):
        s.add(defective(rng)[0], "defective")
    res = train_sample_set(s, options=TINY)
    run = res.validation
    # cross-fitted (PatchCore is fast): every good sample is in the final model and scored unseen once
    assert res.calibration.method == "cross-fit" and res.calibration.folds == 5
    assert run.n_good == 10 and run.n_defective == 3
    assert res.bundle.info["n_train"] == 10 and res.camera.exposure_us == 800.0
    assert res.validation.confusion(0.5).fp == 0  # scored good parts pass at the calibrated threshold
    assert res.validation.summary()["image_auroc"] > 0.5
    store = RecipeStore(tmp_path / "recipes")
    r1 = deploy_product(store, "web", res, notes="first")
    assert r1.version == 1 and store.load("web").camera.exposure_us == 800.0
    insp = store.load("web").build_inspector()
    img = texture(rng)
    assert insp.inspect(img).score == pytest.approx(res.inspector().inspect(img).score, abs=1e-4)
    assert not [p for p in (tmp_path / "recipes" / "web").iterdir() if p.name.startswith(".tmp")]
    tuned = store.save(store.load("web").apply_thresholds(0.7, 0.6))
    r3 = deploy_product(store, "web", res)
    assert r3.version == 3 and r3.postprocess.image_threshold == 0.5
    assert r3.history[-1].image_threshold == 0.7 and r3.notes == "first" and tuned.version == 2


def test_cancel_writes_nothing_and_tiling_trains_on_tiles(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    good = [texture(rng, 96) for _ in range(5)]
    ctx = FitContext()
    ctx.cancel.cancel()
    with pytest.raises(CancelledError):
        train_product(good, options=TINY, ctx=ctx)
    from inspection_core.inspector import Preprocessing

    res = train_product(good, options=TINY, preprocessing=Preprocessing(tile=True, overlap=0.5))
    assert "preprocessing" not in res.bundle.info  # a typed field of the calibration facts
    assert res.preprocessing.tile is True and res.bundle.info["calibration"]["preprocessing"]["tile"] is True
    assert res.inspector().inspect(good[0]).anomaly_map.shape == (96, 96)
    with pytest.raises(DataError, match="at least 2"):
        train_product(good[:1], options=TINY)
    with pytest.raises(DataError, match="smaller than"):
        train_product([texture(rng, 32)] * 3, options=TINY, preprocessing=Preprocessing(tile=True))
