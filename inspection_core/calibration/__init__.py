"""Tuning and calibration without retraining: threshold suggestions, validation runs, frozen frames.

All thresholds are in normalised units (0.5 = the threshold calibrated at training time).
"""

from inspection_core.calibration.frozen import FrozenFrame
from inspection_core.calibration.history import (
    ThresholdEntry,
    apply_thresholds,
    restore_thresholds,
)
from inspection_core.calibration.thresholds import (
    CalibrationError,
    Confusion,
    RocData,
    Strategy,
    ThresholdSuggestion,
    confusion_at,
    roc_data,
    suggest_good_only,
    suggest_image_threshold,
    suggest_pixel_threshold,
)
from inspection_core.calibration.validation import ValidationItem, ValidationRun, labelled_samples

__all__ = [
    "CalibrationError",
    "Confusion",
    "FrozenFrame",
    "RocData",
    "Strategy",
    "ThresholdEntry",
    "ThresholdSuggestion",
    "ValidationItem",
    "ValidationRun",
    "apply_thresholds",
    "confusion_at",
    "labelled_samples",
    "restore_thresholds",
    "roc_data",
    "suggest_good_only",
    "suggest_image_threshold",
    "suggest_pixel_threshold",
]
