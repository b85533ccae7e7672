"""What every fit shares: device selection, progress events, cancel, and the fit-then-calibrate pipeline."""

from inspection_core.training.context import CancelToken, FitContext, ProgressEvent, resolve_device

__all__ = ["CancelToken", "FitContext", "ProgressEvent", "resolve_device"]
