"""The one contract every frame source follows: list, open, configure, start, read(timeout), stop, close.

Sources are used from one acquisition thread; `read` never blocks longer than its timeout.
"""

from __future__ import annotations

import enum
import time
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from inspection_core.camera.features import Feature, SettingLimits, settings_tree
from inspection_core.errors import CameraError
from inspection_core.types import Frame


class CameraTimeout(CameraError):
    """No frame arrived within the timeout (the source is still usable)."""


class CameraLost(CameraError):
    """The device vanished or the producer failed; the source is in state LOST until re-opened."""


class EndOfStream(CameraError):
    """A finite source (a replay without looping) has delivered its last frame."""


class SourceState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    RUNNING = "running"
    LOST = "lost"


@dataclass(frozen=True)
class SourceInfo:
    """What a source picker shows. `spec` is what `open_source(spec)` takes to open it again."""

    kind: str  # "genicam" | "replay" | "simulated"
    spec: str
    label: str
    vendor: str = ""
    model: str = ""
    serial: str = ""
    id: str = ""
    producer: str = ""


@dataclass
class SourceStats:
    delivered: int = 0
    lost: int = 0
    incomplete: int = 0
    timeouts: int = 0
    fps: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class FpsMeter:
    """Delivered frames per second over the last `maxlen` frames (and at most `window_s` seconds)."""

    def __init__(self, maxlen: int = 64, window_s: float | None = None) -> None:
        self._times: deque[float] = deque(maxlen=maxlen)
        self._window_s = window_s

    def tick(self) -> None:
        now = time.perf_counter()
        self._times.append(now)
        if self._window_s is not None:
            while len(self._times) > 2 and self._times[0] < now - self._window_s:
                self._times.popleft()

    def reset(self) -> None:
        self._times.clear()

    @property
    def fps(self) -> float:
        t = self._times
        return (len(t) - 1) / (t[-1] - t[0]) if len(t) >= 2 and t[-1] > t[0] else 0.0

    def stats_with_fps(self, stats: SourceStats) -> SourceStats:
        """A copy of `stats` with the current fps filled in (what every source's stats() returns)."""
        s = SourceStats(**stats.to_dict())
        s.fps = self.fps
        return s


@dataclass
class FeatureInfo:
    """One node of a camera's feature tree, for the expert view."""

    name: str
    type: str
    value: Any = None
    min: Any = None
    max: Any = None
    access: str = ""  # RO, RW, WO, NA
    choices: list[str] = field(default_factory=list)
    unit: str = ""
    description: str = ""


class FrameSource(ABC):
    """Base class of every source (GenICam camera, replay, simulated web)."""

    info: SourceInfo

    @property
    @abstractmethod
    def state(self) -> SourceState: ...

    @abstractmethod
    def open(self) -> None: ...

    def configure(self, **settings: Any) -> dict[str, Any]:
        """Apply settings (exposure_us, gain_db, pixel_format, width, height, offset_x, offset_y,
        frame_rate, trigger_mode, trigger_source); returns what was applied. Unknown keys: CameraError."""
        if settings:
            raise CameraError(f"{self.info.label}: cannot set {', '.join(sorted(settings))}")
        return {}

    def settings(self) -> dict[str, Any]:
        """Current values of the standard settings this source has (for recipes and sidecars)."""
        return {}

    @abstractmethod
    def start(self) -> None: ...

    @abstractmethod
    def read(self, timeout_s: float = 1.0) -> Frame:
        """Next frame (owned by the caller). Raises CameraTimeout or CameraLost, never hangs."""

    @abstractmethod
    def stop(self) -> None: ...

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def stats(self) -> SourceStats: ...

    def features(self) -> list[FeatureInfo]:
        return []

    # a consumer must take every frame of this source (a replay being re-inspected): no dropping
    every_frame: bool = False

    def setting_limits(self) -> dict[str, SettingLimits]:
        """Ranges and choices of the settings `configure` accepts (what the camera panel offers)."""
        return {}

    def feature_tree(self) -> Feature:
        """Every feature as a tree (GenICam: the node map; others: their settings). Call it open."""
        return settings_tree(self.settings(), self.setting_limits(), self.info.label)

    def write_feature(self, name: str, value: Any) -> Any:
        """Write one feature by its tree name (commands execute); returns the value read back."""
        return self.configure(**{name: value}).get(name)

    def trigger(self) -> None:
        """Fire a software trigger."""
        raise CameraError(f"{self.info.label} has no software trigger")

    def __enter__(self) -> FrameSource:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
