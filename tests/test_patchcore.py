"""The default model: detects planted defects, localises them, survives save/load, rejects bad files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from _tiny_data import SIZE, defective, texture

from inspection_core.errors import ModelFileError, UnknownModelError
from inspection_core.inspector import Inspector, Preprocessing
from inspection_core.models import create_model, list_models, load_bundle
from inspection_core.models.patchcore.coreset import greedy_coreset
from inspection_core.postprocess.roi import Roi, RoiShape
from inspection_core.postprocess.settings import PostprocessSettings
from inspection_core.training.fit import train_model


@pytest.fixture(scope="module")
def bundle():  # noqa: ANN201
    rng = np.random.default_rng(5)
    return train_model(
        "patchcore",
        [texture(rng) for _ in range(12)],
        holdout=None,  # the product's choice: cross-fitted, every image in the bank and in calibration
        options={"image_size": (SIZE, SIZE), "coreset_size": 300},
    )


def test_registry_lists_patchcore_first() -> None:
    assert list_models()[0].name == "patchcore" and list_models()[0].fast


def test_planted_defect_scores_above_good_and_mask_overlaps(bundle) -> None:  # noqa: ANN001
    rng = np.random.default_rng(99)
    insp = Inspector(bundle)
    good = [insp.inspect(texture(rng)) for _ in range(6)]
    bad_imgs = [defective(rng) for _ in range(6)]
    bad = [insp.inspect(img) for img, _ in bad_imgs]
    assert min(r.score for r in bad) > max(r.score for r in good)
    assert all(r.verdict == "NG" for r in bad)
    assert sum(r.verdict == "OK" for r in good) >= 5
    for r, (_, m) in zip(bad, bad_imgs, strict=True):
        inter = (r.mask & m).sum()
        assert inter > 0.3 * m.sum(), "mask must cover the planted defect"
        x0, y0, x1, y1 = r.defects[0].bbox
        cy, cx = np.argwhere(m).mean(0)
        assert x0 <= cx < x1 and y0 <= cy < y1


def test_load_errors_are_clear(bundle, tmp_path: Path) -> None:  # noqa: ANN001
    good = bundle.save(tmp_path / "good")
    with pytest.raises(ModelFileError, match="not found"):
        load_bundle(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelFileError, match="no model.json"):
        load_bundle(tmp_path / "empty")

    def variant(name: str, edit) -> Path:  # noqa: ANN001
        d = tmp_path / name
        d.mkdir()
        (d / "model.safetensors").write_bytes((good / "model.safetensors").read_bytes())
        meta = json.loads((good / "model.json").read_text())
        edit(meta)
        (d / "model.json").write_text(json.dumps(meta))
        return d

    with pytest.raises(ModelFileError, match="newer"):
        load_bundle(variant("newer", lambda m: m.update(format_version=99)))
    with pytest.raises(ModelFileError, match="version 0"):
        load_bundle(variant("oldmodel", lambda m: m.update(model_version=0)))
    with pytest.raises(ModelFileError, match="unknown model"):
        load_bundle(variant("other", lambda m: m.update(model="mystery")))
    with pytest.raises(ModelFileError, match="not an aoi-station model"):
        load_bundle(variant("foreign", lambda m: m.update(format="something-else")))
    corrupt = variant("corrupt", lambda m: None)
    (corrupt / "model.safetensors").write_bytes(b"\x00" * 100)
    with pytest.raises(ModelFileError, match="corrupt"):
        load_bundle(corrupt)
    badjson = variant("badjson", lambda m: None)
    (badjson / "model.json").write_text("{ not json")
    with pytest.raises(ModelFileError, match="corrupt"):
        load_bundle(badjson)


def test_greedy_coreset_spreads_out() -> None:
    g = torch.Generator().manual_seed(0)
    # two tight clusters far apart: a coreset of 2 must take one point from each
    a = torch.randn(500, 8, generator=g) * 0.01
    b = torch.randn(500, 8, generator=g) * 0.01 + 10
    idx = greedy_coreset(torch.cat([a, b]), 2, projection_dim=4)
    assert sorted(int(i) // 500 for i in idx) == [0, 1]
    assert len(set(greedy_coreset(torch.cat([a, b]), 50).tolist())) == 50


def test_tiled_inspection_of_a_large_frame_is_seamless(bundle) -> None:  # noqa: ANN001
    rng = np.random.default_rng(3)
    frame = np.tile(texture(rng, 64), (3, 4))[:150, :230]
    res = Inspector(bundle, preprocessing=Preprocessing(tile=True, overlap=0.25)).inspect(frame)
    assert res.anomaly_map.shape == frame.shape
    assert np.isfinite(res.anomaly_map).all()


def test_whole_frame_pass_finds_a_planted_defect_and_agrees_with_tiles(bundle) -> None:  # noqa: ANN001
    rng = np.random.default_rng(8)
    frame = texture(rng, 256)[:160, :230].copy()  # one continuous surface: no seams to find
    bad, mask = defective(rng)
    truth = np.zeros(frame.shape, bool)
    truth[60 : 60 + SIZE, 90 : 90 + SIZE] = mask
    frame[truth] = bad[mask]  # only the defect's own pixels
    whole = Inspector(bundle, preprocessing=Preprocessing(tile=True, whole_frame=True))
    assert whole.whole_frame  # PatchCore takes any input size
    tiles = Inspector(bundle, preprocessing=Preprocessing(tile=True, overlap=0.25))
    (raw,) = whole.predict_raw([frame])
    (tiled,) = tiles.predict_raw([frame])
    assert raw.raw_map.shape == frame.shape and np.isfinite(raw.raw_map).all()
    assert "stitch" not in raw.timings and "stitch" in tiled.timings
    assert raw.raw_score == pytest.approx(float(raw.raw_map.max()))  # the frame's score is the map's peak
    # the peak is on the planted defect, as with tiles, and the two maps largely agree
    for amap in (raw.raw_map, tiled.raw_map):
        peak = np.unravel_index(np.argmax(amap), frame.shape)
        assert np.hypot(*(np.array(peak) - np.argwhere(truth).mean(0))) < 12
    assert np.corrcoef(raw.raw_map.ravel(), tiled.raw_map.ravel())[0, 1] > 0.7
    assert whole.inspect(frame).anomaly_map.shape == frame.shape
    # a recipe keeps the choice
    pre = Preprocessing.from_dict(whole.preprocessing.to_dict())
    assert pre.whole_frame and pre == whole.preprocessing


def test_large_frames_post_processed_on_the_device_match_the_host(bundle) -> None:  # noqa: ANN001
    rng = np.random.default_rng(9)
    frame = texture(rng, 256)[:150, :200].copy()
    bad, mask = defective(rng)
    frame[40 : 40 + SIZE, 70 : 70 + SIZE][mask] = bad[mask]
    roi = Roi((RoiShape.rect(60, 30, 200, 150),))
    for pre in (Preprocessing(tile=True), Preprocessing(tile=True, whole_frame=True)):
        for settings in (PostprocessSettings(), PostprocessSettings(min_defect_area=30, roi=roi)):
            host = Inspector(bundle, settings, pre, post_on_device=False)
            dev = Inspector(bundle, settings, pre, post_on_device=True)
            assert dev.posts_on_device and not host.posts_on_device
            ref, live = host.inspect(frame), dev.inspect(frame)
            np.testing.assert_allclose(live.anomaly_map, ref.anomaly_map, rtol=0, atol=1e-6)
            assert live.score == pytest.approx(ref.score) and live.verdict == ref.verdict
            np.testing.assert_array_equal(live.mask, ref.mask)
            assert [d.to_dict() for d in live.defects] == [d.to_dict() for d in ref.defects]
            assert live.defects, "the planted defect is found"


def test_predict_frame_gives_predicts_map_without_the_score_bank() -> None:
    rng = np.random.default_rng(6)
    imgs = [texture(rng) for _ in range(8)]
    x = (
        torch.from_numpy(np.stack([defective(rng)[0], texture(rng)])).float()[:, None].expand(-1, 3, -1, -1)
        / 255
    )
    base = {"image_size": (SIZE, SIZE), "coreset_size": 100, "blocks": (4, 10, 14)}
    for opts in ({"map_blocks": (4, 10), "map_aggregation": 3}, {"map_blocks": (4,)}, {"map_blocks": ()}):
        model = train_model("patchcore", imgs, holdout=0.25, options={**base, **opts}).model
        maps, _ = model.predict(x)
        fmaps, peaks = model.predict_frame(x)
        torch.testing.assert_close(fmaps, maps, rtol=1e-4, atol=1e-5)  # the map bank's own blocks only
        torch.testing.assert_close(peaks, maps.flatten(1).amax(1), rtol=1e-4, atol=1e-5)


def test_whole_frame_falls_back_to_tiles_for_models_that_need_their_input_size(bundle, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(type(bundle.model), "any_size", False)
    insp = Inspector(bundle, preprocessing=Preprocessing(tile=True, whole_frame=True))
    assert not insp.whole_frame
    res = insp.inspect(np.tile(texture(np.random.default_rng(1), 64), (2, 3)))
    assert "stitch" in res.timings  # tiles, stitched


def test_map_bank_draws_the_map_and_the_full_bank_scores() -> None:
    rng = np.random.default_rng(2)
    imgs = [texture(rng) for _ in range(8)]
    opts = {"image_size": (SIZE, SIZE), "coreset_size": 100, "blocks": (4, 10, 14)}
    two = train_model("patchcore", imgs, holdout=0.25, options={**opts, "map_blocks": (4,)})
    one = train_model("patchcore", imgs, holdout=0.25, options={**opts, "map_blocks": ()})
    assert two.model.map_bank is not None and one.model.map_bank is None
    assert two.model.map_bank.memory_bank.shape[1] <= 40  # block 4 has 40 channels (PCA may reduce)
    x = torch.from_numpy(np.stack([defective(rng)[0]] * 2)).float()[:, None].expand(-1, 3, -1, -1) / 255
    m2, s2 = two.model.predict(x)
    m1, s1 = one.model.predict(x)
    assert torch.allclose(s1, s2), "the image score comes from the full bank in both"
    assert not torch.allclose(m1, m2), "the map comes from the map bank"
    with pytest.raises(UnknownModelError, match="map_blocks"):
        create_model("patchcore", blocks=(4, 10), map_blocks=(14,))


def test_map_aggregation_changes_only_the_map_and_survives_save_load(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    imgs = [texture(rng) for _ in range(8)]
    opts = {"image_size": (SIZE, SIZE), "coreset_size": 100, "blocks": (4, 10, 14), "aggregation": 5}
    same = train_model("patchcore", imgs, holdout=0.25, options=opts)
    own = train_model("patchcore", imgs, holdout=0.25, options={**opts, "map_aggregation": 1})
    assert own.model.map_bank.memory_bank.shape[1] <= 40 + 112  # blocks 4 and 10 only
    x = torch.from_numpy(np.stack([defective(rng)[0]] * 2)).float()[:, None].expand(-1, 3, -1, -1) / 255
    m_same, s_same = same.model.predict(x)
    m_own, s_own = own.model.predict(x)
    assert torch.allclose(s_same, s_own), "the image score keeps --aggregation"
    assert not torch.allclose(m_same, m_own), "the map bank sees features pooled its own way"
    loaded = load_bundle(own.save(tmp_path / "m"), "cpu")
    m_back, _ = loaded.model.predict(x)
    assert torch.equal(m_own, m_back)


def test_a_model_saved_before_map_aggregation_existed_loads_as_it_was(tmp_path: Path) -> None:
    """An older model.json without the map-aggregation and wide-smoothing options must keep drawing its
    map as it did before those options existed, or its maps would silently change."""
    import json

    rng = np.random.default_rng(6)
    imgs = [texture(rng) for _ in range(8)]
    old = train_model(
        "patchcore",
        imgs,
        holdout=0.25,
        options={"image_size": (SIZE, SIZE), "coreset_size": 100, "map_aggregation": 0, "wide_sigma": 0},
    )
    d = old.save(tmp_path / "old")
    meta = json.loads((d / "model.json").read_text())
    del meta["config"]["map_aggregation"], meta["config"]["wide_sigma"]
    (d / "model.json").write_text(json.dumps(meta))
    loaded = load_bundle(d, "cpu")
    assert loaded.model.config.map_aggregation == 0 and loaded.model.config.wide_sigma == 0
    x = torch.from_numpy(np.stack([defective(rng)[0]])).float()[:, None].expand(-1, 3, -1, -1) / 255
    assert torch.equal(old.model.predict(x)[0], loaded.model.predict(x)[0])


def test_wide_smoothing_only_raises_the_map(bundle) -> None:  # noqa: ANN001
    """The map is the max of the sharp and the wide smoothing: never lower than the sharp map, and
    higher somewhere (a large low-contrast defect's surroundings)."""
    import dataclasses

    rng = np.random.default_rng(9)
    x = torch.from_numpy(np.stack([defective(rng)[0]])).float()[:, None].expand(-1, 3, -1, -1) / 255
    model = bundle.model
    kept = model.config
    try:
        model.config = dataclasses.replace(kept, wide_sigma=32.0)
        wide = model.predict(x)[0]
        model.config = dataclasses.replace(kept, wide_sigma=0.0)
        sharp = model.predict(x)[0]
    finally:
        model.config = kept
    assert torch.all(wide >= sharp - 1e-6) and torch.any(wide > sharp + 1e-6)


def test_graph_replay_is_limited_to_cuda_inputs_of_graph_safe_models_within_their_size(monkeypatch) -> None:  # noqa: ANN001
    from inspection_core.models.graphs import graph_eligible
    from inspection_core.models.registry import get_model_info

    pc, sclvi, sidn = (get_model_info(n).cls for n in ("patchcore", "sclvi", "sidn"))
    assert graph_eligible(pc, (32, 3, 256, 256), "cuda")
    assert graph_eligible(pc, (1, 3, 2048, 2448), "cuda")  # a whole 5-MP frame in one pass
    assert not graph_eligible(pc, (256, 3, 256, 256), "cuda")  # too big: eager
    assert not graph_eligible(pc, (1, 3, 256, 256), "cpu")
    assert not graph_eligible(sclvi, (1, 3, 256, 256), "cuda")  # not graph_safe
    assert graph_eligible(sidn, (32, 3, 128, 128), "cuda") and not graph_eligible(
        sidn, (32, 3, 256, 256), "cuda"
    )
    monkeypatch.setenv("AOI_CUDA_GRAPHS", "0")
    assert not graph_eligible(pc, (1, 3, 256, 256), "cuda")


def test_warm_up_runs_one_inference_at_the_model_input_size(bundle, monkeypatch) -> None:  # noqa: ANN001
    insp = Inspector(bundle)
    shapes: list[tuple[int, ...]] = []
    real = insp.predict_raw

    def recording(images):  # noqa: ANN001, ANN202
        shapes.extend(im.shape for im in images)
        return real(images)

    monkeypatch.setattr(insp, "predict_raw", recording)
    seconds = insp.warm_up()
    h, w = bundle.model.image_size
    assert shapes == [(h, w, 3)] and seconds > 0


def test_folded_batch_norms_give_the_same_features() -> None:
    from inspection_core.models.backbones import EfficientNetLite0Features

    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    plain, fused = EfficientNetLite0Features((4, 10)), EfficientNetLite0Features((4, 10), fuse_bn=True)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    with torch.no_grad():
        for a, b in zip(plain(x), fused(x), strict=True):
            assert torch.allclose(a, b, atol=1e-4, rtol=1e-5)


def test_gpu_search_reranks_to_the_exact_nearest_distance() -> None:
    from inspection_core.models.patchcore.model import MemoryBank

    g = torch.Generator().manual_seed(1)
    bank = torch.rand(300, 24, generator=g) * 3 + 5  # far from the origin: the expansion cancels most
    q = torch.rand(500, 24, generator=g) * 3 + 5
    exact = torch.cdist(q.double(), bank.double()).amin(1).float()
    got = MemoryBank._distance_tf32(q, bank, (bank * bank).sum(1), chunk=128)  # same math on the CPU
    assert torch.allclose(got, exact, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("low", "size", "sigma"),
    [
        ((32, 32), (256, 256), 4.0),
        ((12, 20), (96, 160), 4.0),
        ((4, 4), (16, 16), 4.0),
        ((8, 8), (64, 64), 0.0),
    ],
)
def test_resize_blur_is_the_resize_then_the_blur(
    low: tuple[int, int], size: tuple[int, int], sigma: float
) -> None:
    """The map's resize + Gaussian smoothing as two matrix products equals the two steps (float rounding
    apart), non-square, with the kernel cut to a small image, and with no smoothing."""
    import torch.nn.functional as F

    from inspection_core.models.layers import gaussian_blur, resize_blur

    x = torch.rand(3, 1, *low, generator=torch.Generator().manual_seed(0)) * 50
    ref = gaussian_blur(F.interpolate(x, size=size, mode="bilinear", align_corners=False), sigma)
    got = resize_blur(x, size, sigma)
    assert got.shape == ref.shape
    assert torch.allclose(got, ref, rtol=1e-5, atol=1e-5)


def test_map_feature_dim_reduces_only_the_map_bank_and_survives_save_load(tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    imgs = [texture(rng) for _ in range(8)]
    opts = {"image_size": (SIZE, SIZE), "coreset_size": 100, "map_coreset_size": 100}
    full = train_model("patchcore", imgs, holdout=0.25, options=opts)
    pca = train_model("patchcore", imgs, holdout=0.25, options={**opts, "map_feature_dim": 16})
    assert pca.model.map_bank.memory_bank.shape[1] == 16 and pca.model.map_bank.pca_components.shape[1] == 16
    assert pca.model.bank.memory_bank.shape[1] == full.model.bank.memory_bank.shape[1]  # score bank: all dims
    x = torch.from_numpy(np.stack([defective(rng)[0]])).float()[:, None].expand(-1, 3, -1, -1) / 255
    m_full, s_full = full.model.predict(x)
    m_pca, s_pca = pca.model.predict(x)
    assert torch.allclose(s_full, s_pca) and not torch.allclose(m_full, m_pca)
    loaded = load_bundle(pca.save(tmp_path / "m"), "cpu")
    assert torch.equal(loaded.model.predict(x)[0], m_pca)
