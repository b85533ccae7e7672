"""What every layer above may use at run time: device selection, progress events, cancel, worker
processes and atomic file writes. Imports nothing of the core but types and errors."""

from inspection_core.runtime.context import CancelToken, FitContext, ProgressEvent, resolve_device

__all__ = ["CancelToken", "FitContext", "ProgressEvent", "resolve_device"]
