"""Metric curves in plain numpy (checked against scikit-learn in the tests).

aupro follows the MVTec AD definition (Bergmann et al.): per-region overlap averaged over all
ground-truth connected components, integrated over the false-positive rate up to a limit (0.3)
and divided by that limit.
"""

from __future__ import annotations

import numpy as np


def _check_binary(labels: np.ndarray) -> np.ndarray:
    y = np.asarray(labels).ravel().astype(bool)
    return y


def roc_curve(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, tpr, thresholds) with thresholds descending; ties are handled as one step (like sklearn)."""
    y = _check_binary(labels)
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.size != s.size:
        raise ValueError("labels and scores differ in length")
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    distinct = np.r_[np.nonzero(np.diff(s))[0], y.size - 1]
    tps = np.cumsum(y)[distinct]
    fps = (distinct + 1) - tps
    P, N = tps[-1] if tps.size else 0, fps[-1] if fps.size else 0
    tpr = np.r_[0.0, tps / P] if P else np.full(tps.size + 1, np.nan)
    fpr = np.r_[0.0, fps / N] if N else np.full(fps.size + 1, np.nan)
    thr = np.r_[np.inf, s[distinct]]
    return fpr, tpr, thr


def auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve; NaN when only one class is present."""
    y = _check_binary(labels)
    if y.all() or not y.any():
        return float("nan")
    fpr, tpr, _ = roc_curve(y, scores)
    return float(np.trapezoid(tpr, fpr))


def f1_max(labels: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    """(best F1 over all thresholds, the threshold that gives it: predict positive when score ≥ t)."""
    y = _check_binary(labels)
    s = np.asarray(scores, dtype=np.float64).ravel()
    if not y.any():
        return float("nan"), float("nan")
    order = np.argsort(-s, kind="mergesort")
    s_sorted, y_sorted = s[order], y[order]
    distinct = np.r_[np.nonzero(np.diff(s_sorted))[0], y.size - 1]
    tps = np.cumsum(y_sorted)[distinct].astype(np.float64)
    pred_pos = distinct + 1.0
    precision = tps / pred_pos
    recall = tps / y.sum()
    f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)
    i = int(np.argmax(f1))
    return float(f1[i]), float(s_sorted[distinct[i]])


def _region_weights(masks: np.ndarray) -> tuple[np.ndarray, int]:
    """Per-pixel weight 1 / (area of its ground-truth region) (0 off defects), and the region count."""
    import cv2

    pro_w = np.zeros(masks.shape, np.float64)
    n_regions = 0
    for i in range(masks.shape[0]):
        if not masks[i].any():
            continue
        n, lab = cv2.connectedComponents(masks[i].astype(np.uint8), connectivity=8)
        areas = np.bincount(lab.ravel(), minlength=n).astype(np.float64)
        inv = np.zeros(n)
        inv[1:] = 1.0 / areas[1:]
        pro_w[i] = inv[lab]
        n_regions += n - 1
    return pro_w, n_regions


def _pro_area(fpr: np.ndarray, pro: np.ndarray, fpr_limit: float) -> float:
    """∫ PRO d(FPR) up to the limit (the last segment interpolated), divided by the limit."""
    j = int(np.searchsorted(fpr, fpr_limit, side="right"))
    if j < fpr.size:
        f0, f1_, p0, p1 = fpr[j - 1], fpr[j], pro[j - 1], pro[j]
        p_lim = p0 + (p1 - p0) * (fpr_limit - f0) / max(f1_ - f0, 1e-18)
        fpr = np.r_[fpr[:j], fpr_limit]
        pro = np.r_[pro[:j], p_lim]
    return float(np.trapezoid(pro, fpr) / fpr_limit)


def pixel_auroc_aupro(
    masks: np.ndarray, maps: np.ndarray, fpr_limit: float = 0.3, device: str | None = None
) -> tuple[float, float]:
    """(pixel AUROC, AUPRO) from one descending sort of every pixel, on `device` with torch (a GPU
    sorts the tens of millions of pixels of a test set in milliseconds, the CPU in seconds: this is
    what a suite of many evaluations waits for). Same curves as `auroc` and `aupro`."""
    import torch

    masks = np.asarray(masks, dtype=bool)
    maps = np.asarray(maps, dtype=np.float32)
    if masks.shape != maps.shape:
        raise ValueError(f"mask shape {masks.shape} != map shape {maps.shape}")
    n_pos = int(masks.sum())
    n_neg = masks.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan"), float("nan")
    pro_w, n_regions = _region_weights(masks)
    dev = torch.device(device or "cpu")
    s = torch.from_numpy(maps.ravel()).to(dev)
    order = torch.argsort(s, descending=True, stable=True)
    s = s[order]
    keep = torch.cat(
        [torch.nonzero(s[1:] != s[:-1]).squeeze(1), torch.tensor([s.numel() - 1], device=dev)]
    )  # one threshold per distinct value: the last of each run of ties
    del s
    y = torch.from_numpy(masks.ravel()).to(dev)[order]
    tps = torch.cumsum(y, 0, dtype=torch.float64)[keep]
    fps = (keep + 1).double() - tps
    del y
    tpr = np.r_[0.0, (tps / n_pos).cpu().numpy()]
    fpr = np.r_[0.0, (fps / n_neg).cpu().numpy()]
    p_auroc = float(np.trapezoid(tpr, fpr))
    w = torch.from_numpy(pro_w.ravel()).to(dev)[order]
    pro = np.r_[0.0, (torch.cumsum(w, 0)[keep] / n_regions).cpu().numpy()]
    return p_auroc, _pro_area(fpr, pro, fpr_limit)


def aupro(masks: np.ndarray, maps: np.ndarray, fpr_limit: float = 0.3) -> float:
    """Normalised area under the per-region-overlap curve up to `fpr_limit` (MVTec AD).

    masks: (N, H, W) bool ground truth; maps: (N, H, W) float anomaly maps. NaN without defects.
    """
    masks = np.asarray(masks, dtype=bool)
    maps = np.asarray(maps, dtype=np.float32)
    if masks.shape != maps.shape:
        raise ValueError(f"mask shape {masks.shape} != map shape {maps.shape}")
    # per-pixel weights: good pixels add to FPR, defect pixels add to PRO of their region
    fp_w = (~masks).astype(np.float64)
    n_ok = fp_w.sum()
    pro_w, n_regions = _region_weights(masks)
    if n_regions == 0 or n_ok == 0:
        return float("nan")
    s = maps.ravel()
    order = np.argsort(-s, kind="stable")
    s_sorted = s[order]
    fpr = np.cumsum(fp_w.ravel()[order]) / n_ok
    pro = np.cumsum(pro_w.ravel()[order]) / n_regions
    # keep the last point of each run of equal scores (one threshold per distinct value)
    keep = np.r_[np.nonzero(np.diff(s_sorted))[0], s_sorted.size - 1]
    return _pro_area(np.r_[0.0, fpr[keep]], np.r_[0.0, pro[keep]], fpr_limit)
