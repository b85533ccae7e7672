"""Threshold suggestions, validation runs, frozen-frame re-thresholding and threshold history."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch
from _tiny_data import SIZE, defective, texture, train_tiny, write_mvtec
from skimage.measure import label, regionprops
from sklearn.metrics import precision_recall_curve

from inspection_core.calibration import (
    CalibrationError,
    FrozenFrame,
    Strategy,
    ValidationRun,
    confusion_at,
    labelled_samples,
    restore_thresholds,
    roc_data,
    suggest_good_only,
    suggest_image_threshold,
    suggest_pixel_threshold,
)
from inspection_core.data.imageio import imwrite
from inspection_core.errors import CancelledError, DataError
from inspection_core.inspector import Inspector, RawPrediction
from inspection_core.postprocess import Normalization, PostprocessSettings, Roi, RoiShape, postprocess_map
from inspection_core.postprocess.regions import extract_defects
from inspection_core.runtime.context import CancelToken, FitContext


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def bundle():  # noqa: ANN201
    torch.set_num_threads(1)
    return train_tiny()


@pytest.fixture()
def overlapping() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    good, bad = rng.normal(0.3, 0.1, 1000), rng.normal(0.7, 0.12, 200)
    return np.r_[np.zeros(1000, int), np.ones(200, int)], np.r_[good, bad]


# --- strategies -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("f1", "f1", 0.0),
        ("max-false-reject=0.01", "max-false-reject", 0.01),
        ("min-recall=99%", "min-recall", 0.99),
    ],
)
def test_strategy_parse(text: str, kind: str, value: float) -> None:
    s = Strategy.parse(text)
    assert (s.kind, s.value) == (kind, pytest.approx(value))


@pytest.mark.parametrize(
    "bad", ["", "f2", "min-recall", "max-false-reject=abc", "min-recall=1.5", "min-recall=0"]
)
def test_strategy_parse_rejects_bad_text(bad: str) -> None:
    with pytest.raises(CalibrationError):
        Strategy.parse(bad)


# --- image thresholds on known distributions ----------------------------------------------------
def test_separable_scores_give_a_perfect_threshold_between_the_classes() -> None:
    labels = np.r_[np.zeros(50, int), np.ones(20, int)]
    scores = np.r_[np.linspace(0.0, 0.4, 50), np.linspace(0.6, 1.0, 20)]
    for strat in ("f1", "max-false-reject=0", "min-recall=1"):
        s = suggest_image_threshold(labels, scores, strat)
        assert 0.4 < s.threshold <= 0.6, strat
        assert (s.confusion.fp, s.confusion.fn) == (0, 0)
        assert not s.warnings


def test_f1_suggestion_reaches_the_best_f1(overlapping: tuple[np.ndarray, np.ndarray]) -> None:
    labels, scores = overlapping
    s = suggest_image_threshold(labels, scores, "f1")
    p, r, _ = precision_recall_curve(labels, scores)
    best = np.max(np.where(p + r > 0, 2 * p * r / np.maximum(p + r, 1e-12), 0))
    assert s.confusion.f1 == pytest.approx(best, abs=1e-9)


def test_max_false_reject_is_the_lowest_threshold_within_the_budget(overlapping) -> None:  # noqa: ANN001
    labels, scores = overlapping
    s = suggest_image_threshold(labels, scores, "max-false-reject=0.01")
    assert s.confusion.false_reject_rate <= 0.01
    lower = scores[scores < s.threshold].max()  # one step lower would reject that part too
    assert confusion_at(labels, scores, lower).false_reject_rate > 0.01
    s5 = suggest_image_threshold(labels, scores, "max-false-reject=0.05")
    assert s5.threshold < s.threshold and s5.confusion.recall >= s.confusion.recall


def test_min_recall_is_the_highest_threshold_catching_enough(overlapping) -> None:  # noqa: ANN001
    labels, scores = overlapping
    s = suggest_image_threshold(labels, scores, "min-recall=0.95")
    assert s.confusion.recall >= 0.95
    higher = scores[scores >= s.threshold].min()
    assert confusion_at(labels, scores, higher + 1e-9).recall < 0.95


def test_good_only_uses_a_percentile_plus_margin_and_says_so() -> None:
    good = np.random.default_rng(1).normal(0.2, 0.05, 400)
    labels = np.zeros(400, int)
    s = suggest_image_threshold(labels, good, "f1")
    assert s.threshold > good.max() and s.confusion.fp == 0
    assert "good-only" in s.note and "not computable" in s.note
    s5 = suggest_image_threshold(labels, good, "max-false-reject=0.05")
    assert 0 < s5.confusion.false_reject_rate <= 0.05
    assert s5.threshold < s.threshold


def test_good_only_never_rejects_identical_good_scores() -> None:
    t = suggest_good_only(np.full(10, 0.3))
    assert t > 0.3
    t = suggest_good_only(np.full(10, 0.3), max_false_reject=0.5)
    assert t > 0.3


def test_never_suggests_a_threshold_that_rejects_every_good_part() -> None:
    # a model that scores defects lower than good parts: min-recall would reject everything
    labels = np.r_[np.zeros(20, int), np.ones(10, int)]
    scores = np.r_[np.linspace(0.5, 0.9, 20), np.linspace(0.1, 0.3, 10)]
    s = suggest_image_threshold(labels, scores, "min-recall=0.99")
    assert s.confusion.tn >= 1
    assert s.warnings and "every good part" in s.warnings[0]


def test_suggestion_needs_good_samples() -> None:
    with pytest.raises(CalibrationError, match="good"):
        suggest_image_threshold(np.ones(5, int), np.linspace(0, 1, 5), "f1")


def test_confusion_counts_and_roc() -> None:
    labels = np.array([0, 0, 0, 1, 1])
    scores = np.array([0.1, 0.6, 0.3, 0.7, 0.4])
    c = confusion_at(labels, scores, 0.5)
    assert (c.tp, c.fp, c.tn, c.fn) == (1, 1, 2, 1)
    assert c.false_reject_rate == pytest.approx(1 / 3) and c.recall == pytest.approx(0.5)
    roc = roc_data(labels, scores)
    assert roc.auroc == pytest.approx(5 / 6)  # 5 of the 6 (defective, good) pairs ordered right
    assert roc.fpr[0] == 0 and roc.tpr[-1] == 1


# --- pixel thresholds -----------------------------------------------------------------------------
def test_pixel_threshold_with_masks_separates_defect_pixels() -> None:
    rng = np.random.default_rng(0)
    masks = np.zeros((6, 32, 32), bool)
    masks[3:, 10:16, 10:20] = True
    maps = np.clip(rng.normal(0.2, 0.05, masks.shape) + 0.6 * masks, 0, 1).astype(np.float32)
    labels = np.r_[np.zeros(3, int), np.ones(3, int)]
    s = suggest_pixel_threshold(maps, masks, labels)
    assert s.strategy == "pixel-f1"
    assert maps[~masks].max() < s.threshold <= maps[masks].min()
    assert s.confusion.f1 == pytest.approx(1.0)


def test_pixel_threshold_without_masks_comes_from_good_pixels() -> None:
    rng = np.random.default_rng(0)
    maps = rng.uniform(0, 0.4, (4, 32, 32)).astype(np.float32)
    s = suggest_pixel_threshold(maps, None, np.zeros(4, int))
    assert s.strategy == "pixel-good-quantile"
    assert np.quantile(maps, 0.9999) < s.threshold <= 1.0


# --- regions (after the speed-up of extract_defects) --------------------------------------------
def test_extract_defects_matches_skimage_and_filters_by_area() -> None:
    rng = np.random.default_rng(5)
    amap = rng.uniform(0, 0.4, (60, 80)).astype(np.float32)
    amap[5:15, 5:25] = 0.9  # 200 px
    amap[40:43, 50:53] = 0.7  # 9 px
    amap[30:40, 60:70] = 0.8  # 100 px
    mask, defects = extract_defects(amap, 0.5, min_area=50, morphology_radius=0)
    props = [p for p in regionprops(label(amap >= 0.5, connectivity=2)) if p.area >= 50]
    assert sorted(d.area_px for d in defects) == sorted(int(p.area) for p in props) == [100, 200]
    assert [d.max_score for d in defects] == pytest.approx([0.9, 0.8])  # worst first
    assert defects[0].bbox == (5, 5, 25, 15) and defects[0].centroid == pytest.approx((14.5, 9.5))
    assert mask.sum() == 300 and not mask[40:43, 50:53].any()


# --- frozen frame ---------------------------------------------------------------------------
def _raw_frame() -> RawPrediction:
    rng = np.random.default_rng(2)
    raw = rng.uniform(0.0, 0.3, (120, 160)).astype(np.float32)
    raw[10:30, 10:30] = 0.9  # inside the ROI below
    raw[80:88, 120:128] = 0.9  # small, outside the ROI
    return RawPrediction(raw, float(raw.max()), {"model": 1.0})


def test_frozen_frame_rethresholds_like_the_inspector() -> None:
    raw = _raw_frame()
    norm = Normalization.identity()
    ff = FrozenFrame(raw, norm, frame_id=7)
    base = PostprocessSettings(smoothing_sigma=1.5)
    r = ff.apply(base)
    ref = postprocess_map(raw.raw_map, raw.raw_score, norm, base)
    assert np.array_equal(r.mask, ref.mask) and r.verdict == ref.verdict == "NG" and r.frame_id == 7
    assert len(r.defects) == 2
    # min area drops the ~64-px spot; a high image threshold turns the verdict OK
    assert len(ff.apply(base.with_(min_defect_area=150)).defects) == 1
    assert ff.apply(base.with_(image_threshold=0.95)).verdict == "OK"
    # ROI: the spot outside is masked out before the verdict, including the score
    roi = Roi((RoiShape.rect(0, 0, 60, 60),))
    r_roi = ff.apply(base.with_(roi=roi))
    assert len(r_roi.defects) == 1 and not r_roi.mask[60:, :].any()
    r_out = ff.apply(
        base.with_(roi=Roi((RoiShape.rect(0, 0, 60, 60), RoiShape.rect(0, 0, 40, 40, ignore=True))))
    )
    assert r_out.verdict == "OK" and not r_out.defects
    counts, edges = ff.histogram(bins=10)
    assert counts.sum() == raw.raw_map.size and edges[0] == 0 and edges[-1] == 1


# --- validation runs --------------------------------------------------------------------------
def test_validation_run_caches_and_rethresholds(tmp_path, bundle) -> None:  # noqa: ANN001
    root = write_mvtec(tmp_path / "ds", n_train=0, n_good=5, n_bad=5)
    events = []
    run = ValidationRun.run(Inspector(bundle), root, FitContext(progress=events.append), batch_size=4)
    assert [e.step for e in events] == [0, 4, 8, 10] and events[-1].total == 10
    assert run.n_good == 5 and run.n_defective == 5 and run.has_masks
    assert run.items[0].raw_map.shape == (SIZE, SIZE)
    tm = run.timings
    assert tm["inference_s"] > 0 and tm["read_s"] + tm["inference_s"] + tm["cache_s"] <= tm["total_s"] + 1e-3
    assert run.roc().auroc >= 0.9  # dark blobs on a fine texture are easy
    for t in (0.3, 0.5, 1.0):
        c = run.confusion(t)
        assert c.fp == len(run.false_rejects(t)) and c.fn == len(run.false_accepts(t))
        assert c.tp + c.fn == 5 and c.fp + c.tn == 5
    fr = run.false_rejects(0.0)
    assert [it.score for it in fr] == sorted((it.score for it in fr), reverse=True)
    s = run.suggest("f1")
    assert s.confusion.tn >= 1
    px = run.suggest_pixel()
    assert px.strategy == "pixel-f1" and 0 < px.threshold <= 1
    pm = run.pixel_metrics()
    assert 0.5 < pm["pixel_auroc"] <= 1 and 0 <= pm["aupro"] <= 1
    edges, good, bad = run.histograms(bins=10)
    assert good.sum() == 5 and bad.sum() == 5 and len(edges) == 11
    # re-open from the cache without the model
    again = ValidationRun.load(run.save(tmp_path / "val.npz"))
    assert np.allclose(again.scores, run.scores) and again.confusion(0.5) == run.confusion(0.5)
    assert again.suggest_pixel().threshold == pytest.approx(px.threshold)
    json.dumps(run.summary(), default=float)


def test_validation_applies_the_roi_to_the_score(tmp_path, bundle) -> None:  # noqa: ANN001
    root = write_mvtec(tmp_path / "ds", n_train=0, n_good=2, n_bad=2, seed=4)
    full = ValidationRun.run(Inspector(bundle), root)
    tiny_roi = PostprocessSettings(roi=Roi((RoiShape.rect(0, 0, 4, 4),)))
    clipped = ValidationRun.run(Inspector(bundle, tiny_roi), root)
    assert (clipped.scores <= full.scores + 1e-6).all() and (clipped.scores < full.scores).any()


def test_validation_cancel(tmp_path, bundle) -> None:  # noqa: ANN001
    root = write_mvtec(tmp_path / "ds", n_train=0, n_good=4, n_bad=4)
    token = CancelToken()

    def cancel_after_first(ev) -> None:  # noqa: ANN001
        if ev.step >= 2:
            token.cancel()

    with pytest.raises(CancelledError):
        ValidationRun.run(
            Inspector(bundle), root, FitContext(progress=cancel_after_first, cancel=token), batch_size=2
        )


def test_labelled_folder_layouts(tmp_path) -> None:  # noqa: ANN001
    rng = np.random.default_rng(0)
    # two folders + masks folder
    for i in range(2):
        imwrite(tmp_path / "ok" / f"g{i}.png", texture(rng))
        img, m = defective(rng)
        imwrite(tmp_path / "ng" / f"d{i}.png", img)
    imwrite(tmp_path / "masks" / "d0.png", m)
    s = labelled_samples(tmp_path / "ok", tmp_path / "ng", tmp_path / "masks")
    assert [x.label for x in s] == [0, 0, 1, 1]
    assert s[2].mask_path is not None and s[3].mask_path is None
    # good/ + <defect>/ sub-folders with ground_truth/
    imwrite(tmp_path / "sub" / "good" / "a.png", texture(rng))
    imwrite(tmp_path / "sub" / "scratch" / "b.png", img)
    imwrite(tmp_path / "sub" / "ground_truth" / "scratch" / "b_mask.png", m)
    s2 = labelled_samples(tmp_path / "sub")
    assert [(x.label, x.defect_type, x.mask_path is not None) for x in s2] == [
        (0, "good", False),
        (1, "scratch", True),
    ]
    with pytest.raises(DataError):
        labelled_samples(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no labelled images"):
        labelled_samples(tmp_path / "empty")


# --- threshold history ---------------------------------------------------------------------------
def test_threshold_history_keeps_and_restores_replaced_values() -> None:
    from inspection_core.calibration import apply_thresholds
    from inspection_core.postprocess.settings import PostprocessSettings

    settings, hist = apply_thresholds(PostprocessSettings(), (), 0.62, 0.55, note="calibrate f1")
    settings, hist = apply_thresholds(settings, hist, 0.7, None)
    assert (settings.image_threshold, settings.pixel_threshold) == (0.7, 0.55)
    assert [(h.image_threshold, h.note) for h in hist] == [(0.5, "calibrate f1"), (0.62, "")]
    back, hist2 = restore_thresholds(settings, hist, 0)
    assert back.image_threshold == 0.5 and len(hist2) == 3 and hist2[-1].image_threshold == 0.7


def test_extract_defects_matches_skimage_on_scattered_regions() -> None:
    # many regions side by side and in separate row bands: exercises the block-wise labelling
    rng = np.random.default_rng(11)
    amap = (cv2.GaussianBlur(rng.random((180, 260), dtype=np.float32), (0, 0), 2.0) - 0.5) * 8 + 0.3
    amap = np.clip(amap, 0, 1).astype(np.float32)
    mask, defects = extract_defects(amap, 0.6, min_area=3, morphology_radius=0)
    props = [p for p in regionprops(label(amap >= 0.6, connectivity=2)) if p.area >= 3]
    assert len(props) > 10
    ours = sorted((d.bbox, d.area_px) for d in defects)
    ref = sorted(((p.bbox[1], p.bbox[0], p.bbox[3], p.bbox[2]), int(p.area)) for p in props)
    assert ours == ref
    assert mask.sum() == sum(a for _, a in ref)
