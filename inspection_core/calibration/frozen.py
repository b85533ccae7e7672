"""A frozen frame: one cached raw prediction that re-applies post-processing settings at slider speed.

The tuning workspace freezes a frame and calls `apply(settings)` on every slider move. Normalising,
smoothing and ROI-masking a 5-MP map cost more than thresholding it, so that threshold-independent
half (`prepare_map`) is cached per (smoothing, ROI); a threshold or min-area move re-runs only the
threshold, morphology, regions and verdict (`threshold_map`) — the same code the live Inspector runs.
"""

from __future__ import annotations

import time

import numpy as np

from inspection_core.inspector import RawPrediction
from inspection_core.postprocess.normalization import Normalization
from inspection_core.postprocess.regions import smooth_map
from inspection_core.postprocess.roi import Roi
from inspection_core.postprocess.settings import PostprocessSettings, PreparedMap, prepare_map, threshold_map
from inspection_core.types import InspectionResult


class FrozenFrame:
    """Re-threshold one frame without re-inference. Not thread-safe (one GUI/worker owns it)."""

    def __init__(
        self, raw: RawPrediction, normalization: Normalization, frame_id: int = 0, model_name: str = ""
    ) -> None:
        self.raw = raw
        self.normalization = normalization
        self.frame_id = frame_id
        self.model_name = model_name
        self._norm = normalization.map(raw.raw_map)
        self._smoothed: dict[float, np.ndarray] = {0.0: self._norm}
        self._prepared: dict[tuple[float, Roi], PreparedMap] = {}

    @property
    def norm_map(self) -> np.ndarray:
        """The normalised, unsmoothed map in [0, 1] (what the heatmap shows)."""
        return self._norm

    def smoothed(self, sigma: float) -> np.ndarray:
        key = round(max(float(sigma), 0.0), 3)
        if key not in self._smoothed:
            if len(self._smoothed) > 4:  # a slider on sigma must not hoard 20 MB maps
                self._smoothed = {0.0: self._norm}
            self._smoothed[key] = smooth_map(self._norm, key)
        return self._smoothed[key]

    def prepared(self, settings: PostprocessSettings) -> PreparedMap:
        """The cached threshold-independent map for these smoothing and ROI settings."""
        key = (round(max(float(settings.smoothing_sigma), 0.0), 3), settings.roi)
        if key not in self._prepared:
            if len(self._prepared) > 4:
                self._prepared.clear()
            amap = self.smoothed(key[0])
            self._prepared[key] = prepare_map(
                self.raw.raw_map,
                self.raw.raw_score,
                self.normalization,
                settings.with_(smoothing_sigma=0.0),
                amap,
            )
        return self._prepared[key]

    def apply(self, settings: PostprocessSettings) -> InspectionResult:
        """The InspectionResult these settings give (same rules as the live Inspector)."""
        t0 = time.perf_counter()
        out = threshold_map(self.prepared(settings), settings)
        timings = dict(self.raw.timings)
        timings["postprocess"] = (time.perf_counter() - t0) * 1e3
        return out.to_result(self.frame_id, self.raw.raw_score, self.model_name, timings)

    def histogram(self, bins: int = 100, max_samples: int = 1_000_000) -> tuple[np.ndarray, np.ndarray]:
        """(counts, edges) of the normalised map over [0, 1]; a strided subsample keeps it < 5 ms."""
        flat = self._norm.ravel()
        step = max(1, flat.size // max_samples)
        counts, edges = np.histogram(flat[::step], bins=bins, range=(0.0, 1.0))
        return counts * step, edges
