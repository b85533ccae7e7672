"""Device choice, progress reporting and cancellation, shared by the CLI, the GUI and tests."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from inspection_core.errors import AoiError, CancelledError


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """'auto' → CUDA when present, else CPU. Asking for CUDA without one is a clear error.

    On a GPU, float32 matmuls may use TF32: PatchCore's memory-bank distances get ~25 % faster at a
    1e-4 relative map difference (measured on an H200).
    """
    if isinstance(name, torch.device):
        dev = name
    else:
        name = (name or "auto").lower()
        if name == "auto":
            name = "cuda" if torch.cuda.is_available() else "cpu"
        if name.startswith("cuda") and not torch.cuda.is_available():
            raise AoiError(
                "--device cuda was asked for, but no CUDA GPU is available (use --device auto or cpu)"
            )
        try:
            dev = torch.device(name)
        except RuntimeError as exc:
            raise AoiError(f"unknown device {name!r} (use auto, cpu or cuda)") from exc
    if dev.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
    return dev


def device_label(device: torch.device) -> str:
    """Human name for the status bar and benchmark JSON, e.g. 'cuda:0 (NVIDIA H100 80GB HBM3)'."""
    if device.type == "cuda":
        idx = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{idx} ({torch.cuda.get_device_name(idx)})"
    import platform

    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


@dataclass(frozen=True)
class ProgressEvent:
    """One step of a long operation. total=0 means unknown; loss is set by models with a loop."""

    stage: str
    step: int
    total: int
    message: str = ""
    loss: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    elapsed_s: float = 0.0
    resumed_from: int = 0  # steps done by earlier runs of a resumed schedule (not timed by this one)

    @property
    def fraction(self) -> float:
        return min(1.0, self.step / self.total) if self.total else 0.0

    @property
    def eta_s(self) -> float | None:
        done_now = self.step - self.resumed_from
        if not self.total or done_now <= 0:
            return None
        return self.elapsed_s / done_now * (self.total - self.step)


class CancelToken:
    """Thread-safe cancel flag; long loops call `check()` which raises CancelledError once set."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        if self._event.is_set():
            raise CancelledError("cancelled by the user")


ProgressCallback = Callable[[ProgressEvent], None]


@dataclass
class FitContext:
    """Everything a model's fit needs besides the images: where to run, whom to tell, when to stop."""

    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    progress: ProgressCallback | None = None
    cancel: CancelToken = field(default_factory=CancelToken)
    seed: int = 0
    # time.monotonic() after which a model with a training loop ends it early and keeps what it has
    # learned ("Finish now" in the GUI, `aoi train --stop-after`); a resumable one also keeps its
    # schedule's position, so a long schedule can be spread over several runs
    stop_at: float = math.inf
    _t0: float = field(default_factory=time.perf_counter)

    def should_pause(self) -> bool:
        """True once stop_at has passed."""
        return time.monotonic() > self.stop_at

    def finish_now(self) -> None:
        """Ask the training loop to end at its next step and keep the model (thread-safe: one float)."""
        self.stop_at = -math.inf

    def report(
        self,
        stage: str,
        step: int,
        total: int,
        message: str = "",
        loss: float | None = None,
        resumed_from: int = 0,
        **metrics: float,
    ) -> None:
        """Send a progress event (and honour cancel: every report is a cancel point)."""
        self.cancel.check()
        if self.progress is not None:
            self.progress(
                ProgressEvent(
                    stage,
                    step,
                    total,
                    message,
                    loss,
                    dict(metrics),
                    time.perf_counter() - self._t0,
                    resumed_from,
                )
            )
