"""The fusion model (PatchCore + SIDN) on CPU with tiny members: fused maps, calibration, CLI, stale members.

What every model must do (cancel, save/load, bad options, …) is in test_model_contract.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from _tiny_data import SIZE, defective, texture, write_mvtec

from inspection_core.cli import main
from inspection_core.errors import ModelFileError
from inspection_core.inspector import Inspector
from inspection_core.models import create_model, load_bundle, save_bundle
from inspection_core.training.fit import train_model

SIDN_TINY = "channels=4 clusters=3 batch_size=4 image_size=32x32 median_kernel=3 epochs=2 workers=0"
OPTIONS = {"image_size": (SIZE, SIZE), "patchcore_options": "coreset_size=200", "sidn_options": SIDN_TINY}


@pytest.fixture(scope="module")
def bundle():  # noqa: ANN201
    torch.manual_seed(0)
    rng = np.random.default_rng(3)
    return train_model("fusion", [texture(rng) for _ in range(16)], holdout=0.25, options=OPTIONS)


def test_member_options_reach_the_members() -> None:
    model = create_model("fusion", **OPTIONS)
    assert model.sidn.image_size == (32, 32) and model.sidn.config.channels == 4
    assert model.patchcore.image_size == (SIZE, SIZE) and model.patchcore.config.coreset_size == 200


def test_fused_map_is_the_weighted_mean_of_the_calibrated_members(bundle) -> None:  # noqa: ANN001
    model = bundle.model
    rng = np.random.default_rng(4)
    x = torch.from_numpy(
        np.stack([np.repeat(texture(rng)[None], 3, 0) for _ in range(3)]).astype(np.float32) / 255
    )
    fused_map, fused_score = model.predict(x)
    pm, ps = model.patchcore.predict(x)
    sm, ss = model.sidn.predict(torch.nn.functional.interpolate(x, size=(32, 32), mode="area"))
    sm = torch.nn.functional.interpolate(
        sm[:, None], size=(SIZE, SIZE), mode="bilinear", align_corners=False
    )[:, 0]
    npc, nsd = model.member_norms["patchcore"], model.member_norms["sidn"]
    expect_map = 0.5 * npc.map_unclipped(pm) + 0.5 * nsd.map_unclipped(sm)
    expect_score = 0.7 * npc.score(ps.numpy()) + 0.3 * nsd.score(ss.numpy())
    torch.testing.assert_close(fused_map, expect_map)
    np.testing.assert_allclose(fused_score.numpy(), expect_score, rtol=1e-5, atol=1e-6)
    # each member was calibrated on images it did not see: its threshold sits above its typical good value
    for norm in model.member_norms.values():
        assert norm.pixel_threshold > norm.pixel_reference and norm.n_images >= 1


def test_planted_defect_scores_above_good(bundle) -> None:  # noqa: ANN001
    rng = np.random.default_rng(8)
    insp = Inspector(bundle)
    good = [insp.inspect(texture(rng)).score for _ in range(6)]
    bad = [insp.inspect(defective(rng)[0]).score for _ in range(6)]
    assert min(bad) > max(good)


def test_trains_from_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_mvtec(tmp_path / "data", n_train=10)
    rc = main(
        [
            "train",
            "--model",
            "fusion",
            "--data",
            str(data),
            "--out",
            str(tmp_path / "model"),
            "--device",
            "cpu",
            "--image-size",
            str(SIZE),
            "--patchcore-options",
            "coreset_size=100",
            "--sidn-options",
            SIDN_TINY,
        ]
    )
    assert rc == 0, capsys.readouterr().err
    assert load_bundle(tmp_path / "model").model.member_norms.keys() == {"patchcore", "sidn"}


def test_a_file_with_an_older_member_is_refused_clearly(bundle, tmp_path: Path) -> None:  # noqa: ANN001
    save_bundle(bundle, tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "model.json").read_text())
    meta["extra"]["member_versions"]["patchcore"] = 1
    (tmp_path / "m" / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match="patchcore was saved by version 1"):
        load_bundle(tmp_path / "m")
