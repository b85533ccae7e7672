"""Anomaly-detection metrics (image/pixel AUROC, AUPRO, F1-max) and threshold suggestions."""

from inspection_core.metrics.curves import aupro, auroc, f1_max, roc_curve
from inspection_core.metrics.evaluate import EvalReport, evaluate_dataset

__all__ = ["EvalReport", "aupro", "auroc", "evaluate_dataset", "f1_max", "roc_curve"]
