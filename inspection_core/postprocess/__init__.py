"""From raw anomaly maps to verdicts: normalisation, smoothing, ROI, thresholds, regions."""

from inspection_core.postprocess.normalization import Normalization, fit_normalization
from inspection_core.postprocess.regions import extract_defects, smooth_map
from inspection_core.postprocess.roi import Roi, RoiShape
from inspection_core.postprocess.settings import PostprocessOutput, PostprocessSettings, postprocess_map

__all__ = [
    "Normalization",
    "PostprocessOutput",
    "PostprocessSettings",
    "Roi",
    "RoiShape",
    "extract_defects",
    "fit_normalization",
    "postprocess_map",
    "smooth_map",
]
