"""Normalisation, thresholds, regions, minimum area, ROI and verdict rules."""

from __future__ import annotations

import numpy as np
import pytest

from inspection_core.postprocess import (
    Normalization,
    PostprocessSettings,
    Roi,
    RoiShape,
    extract_defects,
    fit_normalization,
    postprocess_map,
)


def test_normalisation_puts_thresholds_at_half_and_good_median_at_zero() -> None:
    rng = np.random.default_rng(0)
    scores = rng.normal(10, 1, 200)
    maps = rng.normal(5, 1, (20, 16, 16)).astype(np.float32)
    n = fit_normalization(scores, maps)
    assert n.score(n.image_threshold) == pytest.approx(0.5)
    assert n.image_threshold > scores.max(), "no held-out good part may be rejected"
    assert float(n.score(np.median(scores))) <= 0.05
    assert n.map(np.array([n.pixel_threshold], np.float32))[0] == pytest.approx(0.5)
    assert (n.map(maps) < 0.5).mean() > 0.999
    assert n.raw_score(0.5) == pytest.approx(n.image_threshold)
    assert n.raw_score(float(n.score(12.3))) == pytest.approx(12.3, rel=1e-5)
    assert Normalization.from_dict(n.to_dict()) == n


def _blob_map() -> np.ndarray:
    m = np.zeros((60, 80), np.float32)
    m[10:20, 10:30] = 0.9  # area 200, worst
    m[40:44, 50:54] = 0.7  # area 16
    return m


def test_regions_are_ordered_and_filtered_by_area() -> None:
    mask, defects = extract_defects(_blob_map(), 0.5, min_area=0, morphology_radius=0, pixel_size_mm=0.1)
    assert [d.area_px for d in defects] == [200, 16]
    assert defects[0].bbox == (10, 10, 30, 20) and defects[0].max_score == pytest.approx(0.9)
    assert defects[0].area_mm2 == pytest.approx(2.0)
    assert mask.sum() == 216
    mask, defects = extract_defects(_blob_map(), 0.5, min_area=50, morphology_radius=0)
    assert [d.area_px for d in defects] == [200] and mask.sum() == 200


def test_verdict_rules_min_area_and_roi() -> None:
    n = Normalization.identity()
    raw = _blob_map()
    out = postprocess_map(raw, 0.9, n, PostprocessSettings())
    assert out.verdict == "NG" and len(out.defects) == 2
    # the small defect alone is tolerated by the minimum area
    only_small = raw.copy()
    only_small[10:20, 10:30] = 0
    out = postprocess_map(only_small, 0.7, n, PostprocessSettings(min_defect_area=50))
    assert out.verdict == "OK" and not out.defects
    # an ROI excluding the big blob: its score no longer counts
    roi = Roi((RoiShape.rect(40, 30, 80, 60),))
    out = postprocess_map(raw, 0.9, n, PostprocessSettings(roi=roi, morphology_radius=0))
    assert out.score == pytest.approx(0.7, abs=1e-6) and [d.area_px for d in out.defects] == [16]
    assert out.anomaly_map[15, 15] == 0
    # an ignore region over the small blob inside a full-frame ROI
    ign = Roi((RoiShape.rect(45, 35, 60, 50, ignore=True),))
    out = postprocess_map(only_small, 0.7, n, PostprocessSettings(roi=ign))
    assert out.verdict == "OK"


def test_roi_polygon_and_round_trip() -> None:
    roi = Roi((RoiShape.polygon([(0, 0), (10, 0), (0, 10)]), RoiShape.rect(0, 0, 3, 3, ignore=True)))
    m = roi.mask((12, 12))
    assert m[1, 5] and not m[9, 9] and not m[1, 1]
    assert Roi.from_list(roi.to_list()) == roi
    s = PostprocessSettings(image_threshold=0.6, roi=roi, pixel_size_mm=0.05)
    assert PostprocessSettings.from_dict(s.to_dict()) == s
    with pytest.raises(ValueError):
        RoiShape("polygon", ((0, 0), (1, 1)))


@pytest.mark.parametrize("min_area", [0, 30])
def test_dense_and_sparse_labelling_give_the_same_regions(
    monkeypatch: pytest.MonkeyPatch, min_area: int
) -> None:
    """A mask that covers much of the frame takes a full-frame labelling path: same defects, same mask."""
    import cv2

    from inspection_core.postprocess import regions

    rng = np.random.default_rng(3)
    amap = cv2.GaussianBlur(rng.random((300, 400), dtype=np.float32), (0, 0), 4)
    amap = (amap - amap.min()) / (amap.max() - amap.min())
    monkeypatch.setattr(regions, "DENSE_FRACTION", 2.0)  # never dense
    mask_s, defects_s = regions.extract_defects(amap, 0.5, min_area)
    monkeypatch.setattr(regions, "DENSE_FRACTION", 0.0)  # always dense
    mask_d, defects_d = regions.extract_defects(amap, 0.5, min_area)
    assert len(defects_s) > 5
    np.testing.assert_array_equal(mask_s, mask_d)
    assert [(d.id, d.bbox, d.area_px) for d in defects_s] == [(d.id, d.bbox, d.area_px) for d in defects_d]
    for a, b in zip(defects_s, defects_d, strict=True):
        assert a.centroid == pytest.approx(b.centroid)
        assert a.max_score == pytest.approx(b.max_score, rel=1e-6)
        assert a.mean_score == pytest.approx(b.mean_score, rel=1e-5)


def test_bench_mosaic_frame_is_built_from_the_given_images() -> None:
    from inspection_core.bench import mosaic_frame

    a = np.full((30, 50), 10, np.uint8)
    b = np.full((20, 40, 3), 200, np.uint8)
    f = mosaic_frame([a, b], 70, 130, np.random.default_rng(0))
    assert f.shape == (70, 130) and f.dtype == np.uint8
    assert set(np.unique(f)) <= {10, 200} and {10, 200} <= set(np.unique(f))
