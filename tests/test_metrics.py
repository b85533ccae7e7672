"""Metrics agree with scikit-learn and with a brute-force AUPRO on small random data."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import precision_recall_curve, roc_auc_score
from sklearn.metrics import roc_curve as sk_roc_curve

from inspection_core.metrics import aupro, auroc, f1_max, roc_curve


@pytest.mark.parametrize("seed", range(5))
def test_auroc_matches_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 500)
    s = rng.normal(size=500) + y * rng.uniform(0, 2)
    s[::7] = np.round(s[::7], 1)  # ties
    assert auroc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    fpr, tpr, thr = roc_curve(y, s)
    fpr2, tpr2, _ = sk_roc_curve(y, s, drop_intermediate=False)
    assert np.allclose(fpr, fpr2) and np.allclose(tpr, tpr2)


def test_auroc_single_class_is_nan() -> None:
    assert np.isnan(auroc(np.zeros(5), np.arange(5)))


@pytest.mark.parametrize("seed", range(5))
def test_f1_max_matches_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 300)
    s = rng.normal(size=300) + y
    p, r, t = precision_recall_curve(y, s)
    f1 = np.where(p + r > 0, 2 * p * r / np.maximum(p + r, 1e-12), 0)[:-1]
    best, thr = f1_max(y, s)
    assert best == pytest.approx(f1.max(), abs=1e-12)
    pred = s >= thr
    tp = (pred & (y == 1)).sum()
    assert 2 * tp / (pred.sum() + y.sum()) == pytest.approx(best)


def _aupro_bruteforce(masks: np.ndarray, maps: np.ndarray, limit: float, steps: int = 4000) -> float:
    """Slow reference: PRO and FPR at many thresholds, integrated up to the FPR limit."""
    import cv2

    regions = []
    for i in range(len(masks)):
        n, lab = cv2.connectedComponents(masks[i].astype(np.uint8))
        regions += [(i, lab == k) for k in range(1, n)]
    good = ~masks
    ths = np.unique(np.r_[np.inf, maps.ravel()])[::-1]
    fprs, pros = [], []
    for t in ths:
        pred = maps >= t
        fprs.append((pred & good).sum() / good.sum())
        pros.append(np.mean([pred[i][r].mean() for i, r in regions]))
    fprs, pros = np.array(fprs), np.array(pros)
    grid = np.linspace(0, limit, steps)
    return float(np.trapezoid(np.interp(grid, fprs, pros), grid) / limit)


@pytest.mark.parametrize("seed", range(3))
def test_aupro_matches_bruteforce(seed: int) -> None:
    rng = np.random.default_rng(seed)
    masks = np.zeros((3, 12, 12), bool)
    masks[0, 2:5, 2:6] = True
    masks[0, 8:11, 8:10] = True
    masks[2, 5:9, 1:4] = True
    maps = rng.random((3, 12, 12)).astype(np.float32) + masks * rng.uniform(0, 0.6)
    ref = _aupro_bruteforce(masks, maps, 0.3)
    assert aupro(masks, maps, 0.3) == pytest.approx(ref, abs=5e-3)


def test_aupro_perfect_and_useless_maps() -> None:
    masks = np.zeros((2, 20, 20), bool)
    masks[0, 5:10, 5:10] = True
    assert aupro(masks, masks.astype(np.float32) + 0.0) == pytest.approx(1.0, abs=1e-6)
    assert aupro(masks, (~masks).astype(np.float32)) == pytest.approx(0.0, abs=1e-6)
    assert np.isnan(aupro(np.zeros((1, 4, 4), bool), np.zeros((1, 4, 4))))


@pytest.mark.parametrize("levels", [0, 8])
def test_one_sort_pixel_metrics_equal_auroc_and_aupro(levels: int) -> None:
    """The suite's one-sort path (torch, any device) gives the curves of auroc and aupro, ties included."""
    from inspection_core.metrics.curves import pixel_auroc_aupro

    rng = np.random.default_rng(levels)
    masks = np.zeros((6, 20, 20), bool)
    masks[0, 2:6, 3:9] = True
    masks[0, 12:15, 12:14] = True
    masks[3, 8:16, 1:5] = True
    maps = rng.random(masks.shape).astype(np.float32) + masks * 0.3
    if levels:  # many ties
        maps = np.round(maps * levels) / levels
    p_auroc, pro = pixel_auroc_aupro(masks, maps)
    assert p_auroc == pytest.approx(roc_auc_score(masks.ravel(), maps.ravel()), abs=1e-12)
    assert pro == pytest.approx(aupro(masks, maps), abs=1e-12)
    assert all(np.isnan(pixel_auroc_aupro(np.zeros((1, 4, 4), bool), maps[:1, :4, :4])))
