"""PatchCore's `plain` preset is textbook PatchCore: checked against an independent computation of it.

The reference below is written from the paper (Roth et al. 2022) with plain torch, sharing only the
pretrained backbone: blocks 4 + 10, 3×3 local averaging, the deeper grid upsampled to the finer one,
every training patch in the memory bank (the tiny set has fewer patches than the 4,000 coreset),
nearest-neighbour distances, bilinear upsampling, Gaussian σ = 4 (anomalib's 33-tap kernel), image
score = the map's maximum.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from _tiny_data import SIZE, defective, texture

from inspection_core.errors import UnknownModelError
from inspection_core.models import create_model, get_model_info
from inspection_core.models.backbones import EfficientNetLite0Features
from inspection_core.runtime import FitContext


def _to_tensor(imgs: list[np.ndarray]) -> torch.Tensor:
    x = torch.from_numpy(np.stack(imgs).astype(np.float32) / 255.0)
    return x[:, None].expand(-1, 3, -1, -1).contiguous()  # grey → RGB


def _textbook_patchcore(train: torch.Tensor, test: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    backbone = EfficientNetLite0Features((4, 10))

    def patches(x: torch.Tensor) -> torch.Tensor:
        f4, f10 = backbone(x)
        f4 = F.avg_pool2d(f4, 3, stride=1, padding=1, count_include_pad=False)
        f10 = F.avg_pool2d(f10, 3, stride=1, padding=1, count_include_pad=False)
        f10 = F.interpolate(f10, size=f4.shape[-2:], mode="bilinear", align_corners=False)
        return torch.cat([f4, f10], 1)

    with torch.no_grad():
        bank_f = patches(train)
        bank = bank_f.permute(0, 2, 3, 1).reshape(-1, bank_f.shape[1]).double()
        q = patches(test)
        n, d, h, w = q.shape
        dist = torch.cdist(q.permute(0, 2, 3, 1).reshape(-1, d).double(), bank).amin(1)
        amap = F.interpolate(
            dist.view(n, 1, h, w), size=test.shape[-2:], mode="bilinear", align_corners=False
        )
        sigma = 4.0
        ksize = 2 * int(4 * sigma + 0.5) + 1
        t = torch.arange(ksize, dtype=torch.float64) - ksize // 2
        g = torch.exp(-(t**2) / (2 * sigma**2))
        g = g / g.sum()
        amap = F.pad(amap, [ksize // 2] * 4, mode="reflect")
        amap = F.conv2d(F.conv2d(amap, g.view(1, 1, 1, -1)), g.view(1, 1, -1, 1))[:, 0]
    return amap.float(), amap.flatten(1).amax(1).float()


@pytest.fixture(scope="module")
def tiny_set() -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(11)
    train = [texture(rng) for _ in range(8)]
    test = [texture(rng) for _ in range(4)] + [defective(rng)[0] for _ in range(4)]
    return _to_tensor(train), _to_tensor(test)


def test_plain_preset_matches_textbook_patchcore(tiny_set: tuple[torch.Tensor, torch.Tensor]) -> None:
    train, test = tiny_set
    preset = get_model_info("patchcore").preset("plain")
    model = create_model("patchcore", **preset.options, image_size=(SIZE, SIZE))
    model.fit(train, FitContext(seed=0))
    assert model.bank.memory_bank.shape == (8 * (SIZE // 8) ** 2, 40 + 112)  # every patch, no PCA
    assert model.map_bank is None
    maps, scores = model.predict(test)
    ref_maps, ref_scores = _textbook_patchcore(train, test)
    # the same ranking of image scores (Spearman = 1), and the defects rank above the good images
    assert torch.equal(torch.argsort(scores), torch.argsort(ref_scores))
    assert scores[4:].min() > scores[:4].max()
    # the same maps up to the Gaussian's truncation (3σ here, 4σ in the reference)
    rel = (maps - ref_maps).abs().amax() / ref_maps.abs().amax()
    assert float(rel) < 0.02, float(rel)
    torch.testing.assert_close(scores, ref_scores, rtol=0.02, atol=0.0)


def test_plain_preset_is_declared_and_differs_from_the_default() -> None:
    info = get_model_info("patchcore")
    plain = info.preset("plain")
    assert plain.holdout == 0.0
    default = info.cls.Config()
    assert plain.options["score_from"] == "map" and default.score_from == "patches"
    assert plain.options["max_patches"] == -1 and plain.options["feature_dim"] == 0
    with pytest.raises(UnknownModelError, match="no preset 'fancy'.*plain"):
        info.preset("fancy")


def test_score_from_map_is_the_peak_of_the_returned_map(tiny_set: tuple[torch.Tensor, torch.Tensor]) -> None:
    train, test = tiny_set
    model = create_model(
        "patchcore", image_size=(SIZE, SIZE), score_from="map", map_blocks=(), coreset_size=200
    )
    model.fit(train, FitContext(seed=0))
    maps, scores = model.predict(test)
    torch.testing.assert_close(scores, maps.flatten(1).amax(1))
    with pytest.raises(UnknownModelError, match="score_from"):
        create_model("patchcore", score_from="mean")


def test_aoi_train_preset_plain_writes_the_textbook_model(tmp_path, capsys) -> None:  # noqa: ANN001
    import json

    from _tiny_data import write_mvtec

    from inspection_core.cli import main

    data = write_mvtec(tmp_path / "data", n_train=6, n_good=2, n_bad=2)
    out = tmp_path / "model"
    assert (
        main(["train", "--preset", "plain", "--data", str(data), "--out", str(out), "--image-size", "64"])
        == 0
    )
    saved = json.loads((out / "model.json").read_text())
    assert saved["config"]["score_from"] == "map" and saved["config"]["blocks"] == [4, 10]
    assert saved["info"]["preset"] == "plain" and saved["info"]["n_train"] == 6  # every image in the bank
    # an explicit option wins over the preset's
    out2 = tmp_path / "model2"
    argv = ["train", "--preset", "plain", "--data", str(data), "--out", str(out2), "--image-size", "64"]
    assert main([*argv, "--coreset-size", "100"]) == 0
    assert json.loads((out2 / "model.json").read_text())["config"]["coreset_size"] == 100
    assert main(["train", "--preset", "fancy", "--data", str(data), "--out", str(tmp_path / "m3")]) == 2
    assert "no preset 'fancy'" in capsys.readouterr().err
