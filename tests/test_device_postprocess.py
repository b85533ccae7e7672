"""The device post-processing (a large frame's map still on the GPU) gives what the host path gives.

Runs on CPU tensors: the same torch operations run on a GPU."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from inspection_core.postprocess.device import DevicePostprocessor, gaussian_blur, open_mask
from inspection_core.postprocess.normalization import Normalization
from inspection_core.postprocess.regions import smooth_map
from inspection_core.postprocess.roi import Roi, RoiShape
from inspection_core.postprocess.settings import PostprocessSettings, postprocess_map
from inspection_core.types import Verdict

NORM = Normalization(image_threshold=0.5, image_reference=0.1, pixel_threshold=0.5, pixel_reference=0.1)


def spotted_map(seed: int, h: int = 180, w: int = 230, spots: int = 40) -> np.ndarray:
    """Low background and discs of random size and height, some touching the frame's border."""
    rng = np.random.default_rng(seed)
    m = rng.random((h, w), dtype=np.float32) * 0.3
    for _ in range(spots):
        c = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        cv2.circle(m, c, int(rng.integers(0, 9)), float(rng.uniform(0.45, 1.0)), -1)
    return m


def same(host, dev, atol: float = 0.0) -> None:  # noqa: ANN001 - two PostprocessOutputs
    np.testing.assert_allclose(dev.anomaly_map, host.anomaly_map, rtol=0, atol=max(atol, 1e-7))
    np.testing.assert_array_equal(dev.mask, host.mask)
    assert dev.score == pytest.approx(host.score) and dev.verdict == host.verdict
    key = lambda d: d.bbox  # noqa: E731 - equal scores may order regions differently
    for a, b in zip(sorted(host.defects, key=key), sorted(dev.defects, key=key), strict=True):
        assert (a.bbox, a.area_px, a.area_mm2) == (b.bbox, b.area_px, b.area_mm2)
        assert a.centroid == pytest.approx(b.centroid) and a.max_score == pytest.approx(b.max_score)
        assert a.mean_score == pytest.approx(b.mean_score, abs=atol + 1e-9)
    assert [d.id for d in dev.defects] == list(range(1, len(dev.defects) + 1))
    assert [d.max_score for d in dev.defects] == sorted((d.max_score for d in dev.defects), reverse=True)


@pytest.mark.parametrize(
    "settings",
    [
        PostprocessSettings(),
        PostprocessSettings(morphology_radius=0),
        PostprocessSettings(morphology_radius=3, pixel_threshold=0.6),
        PostprocessSettings(min_defect_area=40, pixel_size_mm=0.05),
        PostprocessSettings(
            roi=Roi((RoiShape.rect(20, 10, 200, 150), RoiShape.rect(50, 40, 90, 80, ignore=True)))
        ),
        PostprocessSettings(roi=Roi((RoiShape.polygon([(0, 0), (229, 0), (0, 179)]),)), min_defect_area=10),
        PostprocessSettings(image_threshold=0.99, pixel_threshold=0.95),
    ],
)
def test_device_path_matches_the_host_path(settings: PostprocessSettings) -> None:
    post = DevicePostprocessor()
    for seed in range(3):
        raw = spotted_map(seed)
        host = postprocess_map(raw, 0.45 + 0.1 * seed, NORM, settings)
        dev = post.run(torch.from_numpy(raw), 0.45 + 0.1 * seed, NORM, settings)
        assert host.defects or settings.pixel_threshold > 0.9, "the maps have regions to compare"
        same(host, dev)


def test_min_area_keeps_some_regions_and_masks_only_those() -> None:
    raw = spotted_map(4, spots=60)
    settings = PostprocessSettings(min_defect_area=60)
    unfiltered = postprocess_map(raw, 0.9, NORM, settings.with_(min_defect_area=0))
    dev = DevicePostprocessor().run(torch.from_numpy(raw), 0.9, NORM, settings)
    assert 0 < len(dev.defects) < len(unfiltered.defects)
    assert all(d.area_px >= 60 for d in dev.defects)
    assert dev.mask.sum() == sum(d.area_px for d in dev.defects)
    same(postprocess_map(raw, 0.9, NORM, settings), dev)


def test_smoothing_matches_cv2_within_float_rounding() -> None:
    raw = spotted_map(5)
    for sigma in (0.7, 2.0, 4.0):
        ref = smooth_map(raw, sigma)
        np.testing.assert_allclose(
            gaussian_blur(torch.from_numpy(raw), sigma).numpy(), ref, rtol=0, atol=1e-5
        )
    settings = PostprocessSettings(smoothing_sigma=1.5)
    host = postprocess_map(raw, 0.7, NORM, settings)
    dev = DevicePostprocessor().run(torch.from_numpy(raw), 0.7, NORM, settings)
    np.testing.assert_allclose(dev.anomaly_map, host.anomaly_map, rtol=0, atol=1e-5)
    assert abs(int(dev.mask.sum()) - int(host.mask.sum())) <= 2  # pixels a rounding away from the threshold
    assert len(dev.defects) == len(host.defects)


def test_opening_matches_cv2_at_the_borders() -> None:
    rng = np.random.default_rng(6)
    mask = rng.random((64, 80)) > 0.35
    mask[:, :3] = True  # solid bands on the border: cv2 does not erode them from outside
    for r in (1, 2, 3, 4, 5, 7):
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1,) * 2)
        ref = cv2.morphologyEx(mask.view(np.uint8), cv2.MORPH_OPEN, k).astype(bool)
        np.testing.assert_array_equal(open_mask(torch.from_numpy(mask), r).numpy(), ref)


def test_good_frames_empty_rois_and_dense_masks() -> None:
    post = DevicePostprocessor()
    quiet = np.full((90, 120), 0.05, np.float32)
    out = post.run(torch.from_numpy(quiet), 0.2, NORM, PostprocessSettings())
    assert out.verdict is Verdict.OK and not out.defects and not out.mask.any()
    everywhere = np.full((90, 120), 0.9, np.float32)
    out = post.run(torch.from_numpy(everywhere), 0.9, NORM, PostprocessSettings())
    assert len(out.defects) == 1 and out.defects[0].area_px == 90 * 120 and out.mask.all()
    same(postprocess_map(everywhere, 0.9, NORM, PostprocessSettings()), out)
    # an ROI that lies outside the frame: nothing inspected, the part is not rejected for it
    off = PostprocessSettings(roi=Roi((RoiShape.rect(500, 500, 600, 600),)))
    out = post.run(torch.from_numpy(everywhere), 0.9, NORM, off)
    assert out.score == 0.0 and out.verdict is Verdict.OK and not out.mask.any()
    same(postprocess_map(everywhere, 0.9, NORM, off), out)


def test_returned_arrays_are_not_the_reused_buffers() -> None:
    post = DevicePostprocessor()
    first = post.run(torch.from_numpy(spotted_map(7)), 0.9, NORM, PostprocessSettings())
    kept_map, kept_mask = first.anomaly_map.copy(), first.mask.copy()
    post.run(torch.from_numpy(spotted_map(8)), 0.9, NORM, PostprocessSettings())
    np.testing.assert_array_equal(first.anomaly_map, kept_map)
    np.testing.assert_array_equal(first.mask, kept_mask)


def test_result_memory_stays_bounded_while_results_are_kept() -> None:
    post = DevicePostprocessor()
    raw = torch.from_numpy(spotted_map(9))
    per_result = raw.numel() * (4 + 1)  # float32 map + uint8 mask
    post.memory.limit_bytes = 2 * per_result
    kept = [post.run(raw, 0.9, NORM, PostprocessSettings()) for _ in range(5)]
    assert post.memory.live_bytes == 2 * per_result  # the first two results; the rest are copies
    assert all(np.array_equal(k.anomaly_map, kept[0].anomaly_map) for k in kept)
    assert all(np.array_equal(k.mask, kept[0].mask) for k in kept)
    view = kept[0].mask[10:20]  # a view keeps its result's memory alive
    del kept
    assert post.memory.live_bytes == raw.numel()
    del view
    assert post.memory.live_bytes == 0
