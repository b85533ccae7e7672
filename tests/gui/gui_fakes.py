"""A stand-in camera for GUI tests: a small textured web, defects on demand, loss on demand."""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np

from inspection_core.camera.base import (
    CameraLost,
    CameraTimeout,
    FrameSource,
    SourceInfo,
    SourceState,
    SourceStats,
)
from inspection_core.errors import CameraError
from inspection_core.types import Frame


class FakeWeb(FrameSource):
    """size×size mono8 frames of one smooth noise texture, cycling through 8 shifts, plus sensor noise.

    The cycle is short so a model fitted on 8 frames has seen every good view (tests stay tiny).

    `defects = True` paints a bright square (ground truth in meta["defect_mask"]); `lose()` makes the
    next read raise CameraLost, as a vanished GenTL device does. Thread-safe for those two switches.
    """

    def __init__(self, size: int = 128, fps: float = 60.0, seed: int = 0) -> None:
        self.size = size
        self.fps = fps
        self.info = SourceInfo(kind="simulated", spec="fake", label=f"Fake web {size}x{size}")
        rng = np.random.default_rng(seed)
        self._rng = np.random.default_rng(seed + 1)
        tex = cv2.GaussianBlur(rng.normal(128, 40, (size * 2, size * 2)).astype(np.float32), (0, 0), 2.0)
        self._texture = np.clip(tex, 0, 255).astype(np.uint8)
        self._state = SourceState.CLOSED
        self._n = 0
        self._lock = threading.Lock()
        self.defects = False
        self._lose = False
        self.opens = 0
        self._stats = SourceStats()

    @property
    def state(self) -> SourceState:
        return self._state

    def open(self) -> None:
        if self._state is SourceState.CLOSED:
            self.opens += 1
            self._lose = False
            self._state = SourceState.OPEN

    def start(self) -> None:
        if self._state is SourceState.CLOSED:
            raise CameraError("open it first")
        self._state = SourceState.RUNNING
        self._next = time.perf_counter()

    def lose(self) -> None:
        with self._lock:
            self._lose = True

    def read(self, timeout_s: float = 1.0) -> Frame:
        if self._state is SourceState.LOST:
            raise CameraLost(f"{self.info.label}: device lost")
        if self._state is not SourceState.RUNNING:
            raise CameraError("not running")
        with self._lock:
            if self._lose:
                self._state = SourceState.LOST
                raise CameraLost(f"{self.info.label}: device lost")
            defects = self.defects
        if self.fps > 0:
            wait = self._next - time.perf_counter()
            if wait > timeout_s:
                time.sleep(timeout_s)
                raise CameraTimeout("no frame")
            if wait > 0:
                time.sleep(wait)
            self._next = max(self._next + 1.0 / self.fps, time.perf_counter() - 1.0)
        s = self.size
        off = (self._n % 8) * 3
        img = self._texture[off : off + s, off // 2 : off // 2 + s].astype(np.int16)
        img = np.clip(img + self._rng.integers(-3, 4, img.shape), 0, 255).astype(np.uint8)
        mask = np.zeros((s, s), bool)
        if defects:
            y0 = s // 3
            mask[y0 : y0 + s // 5, y0 : y0 + s // 5] = True
            img[mask] = 255
        frame = Frame(
            img, self._n, time.time_ns(), self.info.label, {"defect_mask": mask, "pixel_format": "Mono8"}
        )
        self._n += 1
        self._stats.delivered += 1
        return frame

    def stop(self) -> None:
        if self._state is SourceState.RUNNING:
            self._state = SourceState.OPEN

    def close(self) -> None:
        self._state = SourceState.CLOSED

    def stats(self) -> SourceStats:
        return SourceStats(**self._stats.to_dict())
