"""`aoi train --init-from`: continuing a saved model's training, and its clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import inspection_core.models.bfdf.train as bfdf_train
from inspection_core.cli import main
from inspection_core.errors import DataError
from inspection_core.models import load_bundle
from inspection_core.training.fit import train_model

TINY = {"image_size": (64, 64), "channels": 16, "batch_size": 4, "steps": 3, "n_references": 2}


def _images(n: int = 8) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(90, 160, (64, 64), dtype=np.uint8) for _ in range(n)]


def _weights(bundle) -> dict[str, torch.Tensor]:  # noqa: ANN001
    return {k: v for k, v in bundle.model.tensors_to_save().items() if "ref" not in k}


def test_init_from_starts_where_the_saved_model_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    imgs = _images()
    first = train_model("bfdf", imgs, holdout=0.25, options=TINY)
    monkeypatch.setattr(bfdf_train, "train_steps", lambda *a, **k: [])  # no training: weights stay as loaded
    cont = train_model("bfdf", imgs, holdout=0.25, options=TINY, init_from=first)
    fresh = train_model("bfdf", imgs, holdout=0.25, options=TINY)
    a, b, c = _weights(first), _weights(cont), _weights(fresh)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a), "a fresh model starts from other weights"
    assert cont.info["total_fit_seconds"] >= first.info["fit_seconds"]


def test_init_from_refuses_other_models_and_architectures() -> None:
    imgs = _images()
    first = train_model("bfdf", imgs, holdout=0.25, options=TINY)
    with pytest.raises(DataError, match="do not fit"):
        train_model("bfdf", imgs, holdout=0.25, options={**TINY, "channels": 8}, init_from=first)
    with pytest.raises(DataError, match="holds a bfdf model"):
        train_model("patchcore", imgs, holdout=0.25, options={"image_size": (64, 64)}, init_from=first)
    pc = train_model("patchcore", imgs, holdout=0.25, options={"image_size": (64, 64), "coreset_size": 50})
    with pytest.raises(DataError, match="no training loop"):
        train_model("patchcore", imgs, holdout=0.25, options={"image_size": (64, 64)}, init_from=pc)


def test_cli_init_from_records_where_it_continued(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from _tiny_data import write_mvtec

    data = write_mvtec(tmp_path / "data", n_train=8, n_good=2, n_bad=2)
    opts = [
        "--image-size",
        "64",
        "--channels",
        "16",
        "--batch-size",
        "4",
        "--steps",
        "2",
        "--n-references",
        "2",
    ]
    args = ["train", "--model", "bfdf", "--data", str(data), "--device", "cpu", *opts]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert main([*args, "--out", str(tmp_path / "b"), "--init-from", str(tmp_path / "a")]) == 0
    info = load_bundle(tmp_path / "b").info
    assert info["init_from"] == str((tmp_path / "a").resolve())
    assert info["total_fit_seconds"] > info["fit_seconds"]
    assert main([*args, "--out", str(tmp_path / "c"), "--init-from", str(tmp_path / "missing")]) != 0
    assert "model folder not found" in capsys.readouterr().err
