"""Run an Inspector over a labelled folder once, then re-apply any threshold without re-inference.

`ValidationRun.run` caches, for every image, its normalised score (ROI applied, like the live verdict)
and its raw anomaly map downsampled to a fixed `map_size`, plus the ground-truth mask at that size when
one exists. Everything the tuning workspace shows (histograms, ROC, confusion matrix, false rejects /
accepts, pixel metrics, suggestions) is computed from that cache.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from inspection_core.calibration.thresholds import (
    CalibrationError,
    Confusion,
    RocData,
    Strategy,
    ThresholdSuggestion,
    confusion_at,
    roc_data,
    suggest_image_threshold,
    suggest_pixel_threshold,
)
from inspection_core.data.dataset import GOOD, MVTecDataset, Sample, find_images
from inspection_core.data.imageio import IMAGE_EXTENSIONS
from inspection_core.errors import DataError
from inspection_core.inspector import Inspector
from inspection_core.metrics.curves import aupro, auroc
from inspection_core.postprocess.normalization import Normalization
from inspection_core.postprocess.settings import PostprocessSettings, roi_raw_score
from inspection_core.runtime.atomic import atomic_writer
from inspection_core.runtime.context import FitContext

MASK_DIRS = ("ground_truth", "masks")


def _find_mask(stem: str, dirs: list[Path]) -> Path | None:
    for d in dirs:
        if not d.is_dir():
            continue
        for name in (f"{stem}_mask", stem):
            for cand in sorted(d.glob(f"{name}.*")):
                if cand.suffix.lower() in IMAGE_EXTENSIONS:
                    return cand
    return None


def labelled_samples(
    data: str | os.PathLike[str],
    defective: str | os.PathLike[str] | None = None,
    masks: str | os.PathLike[str] | None = None,
) -> list[Sample]:
    """Index a labelled validation set (images are read later).

    Accepted layouts: an MVTec root (test/good, test/<type>, ground_truth/<type>/<stem>_mask.png); a
    folder whose sub-folders are good/ and one or more defect types (masks in ground_truth/<type>/ or
    masks/<type>/); or two folders, `data` = good images and `defective` = defective images, with an
    optional `masks` folder holding <stem>_mask.png or <stem>.png.
    """
    root = Path(data)
    if not root.is_dir():
        raise DataError(f"validation folder not found: {root}")
    if defective is not None:
        bad_dir = Path(defective)
        mask_dirs = [Path(masks)] if masks else []
        if masks and not mask_dirs[0].is_dir():
            raise DataError(f"mask folder not found: {masks}")
        good = [Sample(p, 0, GOOD) for p in find_images(root)]
        bad = [Sample(p, 1, "defective", _find_mask(p.stem, mask_dirs)) for p in find_images(bad_dir)]
        samples = good + bad
    elif (root / "test").is_dir():
        samples = MVTecDataset(root).require_test()
    else:
        samples = []
        for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            if sub.name in MASK_DIRS:
                continue
            if sub.name == GOOD:
                samples += [Sample(p, 0, GOOD) for p in find_images(sub)]
            else:
                dirs = [root / m / sub.name for m in MASK_DIRS]
                samples += [Sample(p, 1, sub.name, _find_mask(p.stem, dirs)) for p in find_images(sub)]
    if not samples:
        raise DataError(
            f"no labelled images in {root}: expected test/good + test/<defect>/ (MVTec layout), "
            "good/ + <defect>/ sub-folders, or a good folder and a defective folder"
        )
    return samples


@dataclass(frozen=True)
class ValidationItem:
    """One validated image. raw_map is at the run's map_size; gt_mask is None when no mask is known."""

    path: Path
    label: int
    defect_type: str
    score: float  # normalised, ROI applied (0.5 = calibrated threshold)
    raw_score: float
    raw_map: np.ndarray
    gt_mask: np.ndarray | None
    frame_shape: tuple[int, int]


class ValidationRun:
    """Cached validation of one model on one labelled set; thresholds re-apply instantly."""

    def __init__(
        self,
        items: list[ValidationItem],
        normalization: Normalization,
        settings: PostprocessSettings | None = None,
        model_name: str = "",
    ) -> None:
        if not items:
            raise CalibrationError("a validation run needs at least one image")
        self.items = items
        self.normalization = normalization
        self.settings = settings or PostprocessSettings()
        self.model_name = model_name
        self.labels = np.array([it.label for it in items], np.int64)
        self.scores = np.array([it.score for it in items], np.float64)
        # ranking metrics (ROC, AUROC) on the scores before their floor at 0: floored good scores tie
        # at 0 and lowered the AUROC (issue #25: GUI 0.641 vs `aoi eval` 0.662 on one model); these
        # are a monotone map of the raw scores, so the AUROC is the CLI's, from the same function
        self.rank_scores = np.array(
            [normalization.score_unfloored(float(it.raw_score)) for it in items], np.float64
        )
        self.map_size = items[0].raw_map.shape
        # seconds spent reading images, in the model (incl. its pre/post resize) and caching results
        self.timings: dict[str, float] = {}

    # --- building -------------------------------------------------------------------------
    @classmethod
    def run(
        cls,
        inspector: Inspector,
        samples: list[Sample] | str | os.PathLike[str],
        ctx: FitContext | None = None,
        batch_size: int = 8,
        map_size: tuple[int, int] | None = None,
    ) -> ValidationRun:
        """Inspect every sample (progress + cancel through ctx: ctx.report raises CancelledError).

        map_size defaults to the model input size capped at 128 px a side: enough for pixel metrics and
        for re-drawing a validation overlay, small enough for thousands of images (64 KB each).
        """
        ctx = ctx or FitContext()
        items_in = labelled_samples(samples) if isinstance(samples, str | os.PathLike) else list(samples)
        if not items_in:
            raise DataError("no validation images")
        if map_size is None:
            map_size = tuple(min(int(s), 128) for s in inspector.model.image_size)  # type: ignore[assignment]
        mh, mw = map_size  # type: ignore[misc]
        norm, settings = inspector.bundle.normalization, inspector.settings
        n, out = len(items_in), []
        spent = {"read": 0.0, "inference": 0.0, "cache": 0.0}
        t_start = time.perf_counter()
        ctx.report("validate", 0, n, "validating")
        for i in range(0, n, max(1, batch_size)):
            chunk = items_in[i : i + batch_size]
            t0 = time.perf_counter()
            images = [s.load() for s in chunk]
            t1 = time.perf_counter()
            preds = inspector.predict_raw(images)
            t2 = time.perf_counter()
            for smp, pred in zip(chunk, preds, strict=True):
                h, w = pred.raw_map.shape
                roi = settings.roi.mask((h, w))
                raw = pred.raw_score
                if roi is not None:
                    roi_raw = roi_raw_score(pred.raw_map, pred.raw_score, roi)
                    raw = float(pred.raw_map.min()) if roi_raw is None else roi_raw
                small = cv2.resize(pred.raw_map.astype(np.float32), (mw, mh), interpolation=cv2.INTER_AREA)
                gt = smp.load_mask((mh, mw)) if smp.mask_path is not None else None
                out.append(
                    ValidationItem(
                        smp.path, smp.label, smp.defect_type, float(norm.score(raw)), raw, small, gt, (h, w)
                    )
                )
            spent["read"] += t1 - t0
            spent["inference"] += t2 - t1
            spent["cache"] += time.perf_counter() - t2
            ctx.report("validate", min(n, i + batch_size), n, "validating")
        run = cls(out, norm, settings, inspector.bundle.name)
        run.timings = {f"{k}_s": round(v, 4) for k, v in spent.items()}
        run.timings["total_s"] = round(time.perf_counter() - t_start, 4)
        return run

    # --- image level ----------------------------------------------------------------------
    @property
    def n_good(self) -> int:
        return int((self.labels == 0).sum())

    @property
    def n_defective(self) -> int:
        return int((self.labels == 1).sum())

    def confusion(self, image_threshold: float | None = None) -> Confusion:
        """Confusion matrix at a normalised image threshold (default: the current settings')."""
        t = self.settings.image_threshold if image_threshold is None else image_threshold
        return confusion_at(self.labels, self.scores, t)

    def false_rejects(self, image_threshold: float | None = None) -> list[ValidationItem]:
        """Good images rejected at the threshold, worst (highest score) first."""
        t = self.settings.image_threshold if image_threshold is None else image_threshold
        return sorted((it for it in self.items if it.label == 0 and it.score >= t), key=lambda it: -it.score)

    def false_accepts(self, image_threshold: float | None = None) -> list[ValidationItem]:
        """Defective images accepted at the threshold, most hidden (lowest score) first."""
        t = self.settings.image_threshold if image_threshold is None else image_threshold
        return sorted((it for it in self.items if it.label == 1 and it.score < t), key=lambda it: it.score)

    def roc(self) -> RocData:
        return roc_data(self.labels, self.rank_scores)

    def histograms(self, bins: int = 50) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(edges, good counts, defective counts) on common bins, for the good-vs-defective plot."""
        hi = max(1.0, float(self.scores.max()))
        edges = np.linspace(0.0, hi, bins + 1)
        good = np.histogram(self.scores[self.labels == 0], edges)[0]
        bad = np.histogram(self.scores[self.labels == 1], edges)[0]
        return edges, good, bad

    def suggest(self, strategy: Strategy | str, margin: float = 0.1) -> ThresholdSuggestion:
        return suggest_image_threshold(self.labels, self.scores, strategy, margin)

    # --- pixel level ----------------------------------------------------------------------
    @property
    def has_masks(self) -> bool:
        return any(it.gt_mask is not None and it.gt_mask.any() for it in self.items)

    def norm_maps(self) -> np.ndarray:
        """(N, h, w) normalised maps in [0, 1]."""
        return np.stack([self.normalization.map(it.raw_map) for it in self.items])

    def gt_masks(self) -> np.ndarray:
        """(N, h, w) bool; good images and defective images without a mask file are all-False."""
        empty = np.zeros(self.map_size, bool)
        return np.stack([it.gt_mask if it.gt_mask is not None else empty for it in self.items])

    def _mask_rows(self) -> np.ndarray:
        """Images usable for pixel metrics: good ones and defective ones that have a mask."""
        return np.array([it.label == 0 or it.gt_mask is not None for it in self.items])

    def pixel_metrics(self) -> dict[str, float]:
        """Pixel AUROC and AUPRO@0.3 on the cached maps (NaN without masks)."""
        if not self.has_masks:
            return {"pixel_auroc": float("nan"), "aupro": float("nan")}
        rows = self._mask_rows()
        maps, gts = np.stack([it.raw_map for it in self.items])[rows], self.gt_masks()[rows]
        return {"pixel_auroc": auroc(gts.ravel(), maps.ravel()), "aupro": aupro(gts, maps)}

    def suggest_pixel(self, margin: float = 0.1) -> ThresholdSuggestion:
        """Pixel threshold: per-pixel F1 with masks, else a good-pixel quantile (suggest_pixel_threshold)."""
        if self.has_masks:
            rows = self._mask_rows()
            return suggest_pixel_threshold(
                self.norm_maps()[rows], self.gt_masks()[rows], self.labels[rows], margin
            )
        return suggest_pixel_threshold(self.norm_maps(), None, self.labels, margin)

    def summary(self, image_threshold: float | None = None) -> dict[str, Any]:
        """JSON-ready numbers for reports."""
        c = self.confusion(image_threshold)
        return {
            "model": self.model_name,
            "n_images": len(self.items),
            "n_good": self.n_good,
            "n_defective": self.n_defective,
            "image_auroc": auroc(self.labels, self.rank_scores)
            if self.n_good and self.n_defective
            else float("nan"),
            **self.pixel_metrics(),
            "confusion": c.to_dict(),
            "timings": dict(self.timings),
        }

    # --- persistence (so the GUI can reopen a validation without re-inference) ----------
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the cache as one .npz (arrays) with a JSON header; no pickle."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        header = {
            "model": self.model_name,
            "normalization": self.normalization.to_dict(),
            "settings": self.settings.to_dict(),
            "items": [
                {
                    "path": str(it.path),
                    "label": it.label,
                    "defect_type": it.defect_type,
                    "score": it.score,
                    "raw_score": it.raw_score,
                    "has_mask": it.gt_mask is not None,
                    "frame_shape": list(it.frame_shape),
                }
                for it in self.items
            ],
        }
        with atomic_writer(p, "wb", DataError) as fh:
            np.savez_compressed(
                fh,
                header=np.frombuffer(json.dumps(header).encode(), np.uint8),
                maps=np.stack([it.raw_map for it in self.items]),
                masks=self.gt_masks(),
            )
        return p

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ValidationRun:
        try:
            with np.load(path, allow_pickle=False) as z:
                header = json.loads(z["header"].tobytes().decode())
                maps, masks = z["maps"], z["masks"]
        except (OSError, ValueError, KeyError) as exc:
            raise DataError(f"cannot read validation cache {path}: {exc}") from None
        items = [
            ValidationItem(
                Path(d["path"]),
                int(d["label"]),
                d["defect_type"],
                float(d["score"]),
                float(d["raw_score"]),
                maps[i],
                masks[i] if d["has_mask"] else None,
                tuple(d["frame_shape"]),
            )
            for i, d in enumerate(header["items"])
        ]
        return cls(
            items,
            Normalization.from_dict(header["normalization"]),
            PostprocessSettings.from_dict(header["settings"]),
            header.get("model", ""),
        )
