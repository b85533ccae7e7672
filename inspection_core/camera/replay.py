"""Replay a production recording: a folder of images or a video file, as a frame source.

fps=0 plays as fast as the consumer reads (re-running a recording through a new recipe); fps>0
paces frames (`recorded_fps`: the video's rate, or a folder's from its files' times). loop=False ends
with EndOfStream after the last frame. every_frame=True asks the consumer to take every frame (the
station then never drops one: re-inspection). `paused` holds the position; `step(±1)` delivers the
next or previous frame once. Every frame's meta names its file, its index and the total.

A file of the folder that cannot be read (corrupt, truncated, over the pixel limit, unreadable) is
skipped with a warning, not the end of acquisition: it is counted (`skipped`, and every frame's meta
has "skipped_files" plus, right after a skip, "skipped" with the messages), read only once, and a
folder where every file is bad ends with a CameraError saying so.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from inspection_core.camera.base import (
    CameraTimeout,
    EndOfStream,
    FpsMeter,
    FrameSource,
    SourceInfo,
    SourceState,
    SourceStats,
)
from inspection_core.camera.features import SettingLimits
from inspection_core.data.imageio import IMAGE_EXTENSIONS, imread
from inspection_core.errors import CameraError, DataError
from inspection_core.types import Frame

VIDEO_EXTENSIONS = (".avi", ".mp4", ".mkv", ".mov", ".m4v", ".mpg", ".mpeg", ".wmv")
_log = logging.getLogger(__name__)


class ReplaySource(FrameSource):
    """Images of a folder in name order (or a video's frames), optionally looping."""

    def __init__(
        self, path: str | Path, fps: float = 0.0, loop: bool = True, every_frame: bool = False
    ) -> None:
        self.path = Path(path).expanduser()
        if fps < 0:
            raise CameraError(f"replay frame rate must be >= 0 (0 = as fast as possible), got {fps}")
        self.fps = float(fps)
        self.loop = bool(loop)
        self.every_frame = bool(every_frame)
        self.paused = False
        self._step_pending = False
        self._pos = -1  # index of the frame last delivered
        self._state = SourceState.CLOSED
        self._stats = SourceStats()
        self._fps_meter = FpsMeter()
        self._files: list[Path] = []
        self._bad: dict[Path, str] = {}  # files that could not be read, and why (skipped from then on)
        self._just_skipped: list[str] = []
        self._video: cv2.VideoCapture | None = None
        self.info = SourceInfo(kind="replay", spec=f"replay:{self.path}", label=f"Replay {self.path.name}")

    @property
    def state(self) -> SourceState:
        return self._state

    @property
    def skipped(self) -> dict[str, str]:
        """Files skipped because they cannot be read: path → one-line reason."""
        return {str(f): why for f, why in self._bad.items()}

    def open(self) -> None:
        if self._state is not SourceState.CLOSED:
            return
        p = self.path
        if p.is_dir():
            self._files = sorted(
                f for f in p.iterdir() if f.suffix.lower() in IMAGE_EXTENSIONS and f.is_file()
            )
            if not self._files:
                raise CameraError(f"replay folder has no images ({', '.join(IMAGE_EXTENSIONS)}): {p}")
        elif p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS:
            cap = cv2.VideoCapture(str(p))
            if not cap.isOpened():
                raise CameraError(f"cannot open video (codec missing or file corrupt): {p}")
            self._video = cap
        elif p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS:
            self._files = [p]
        elif not p.exists():
            raise CameraError(f"replay path not found: {p}")
        else:
            raise CameraError(
                f"replay needs a folder of images or a video ({', '.join(VIDEO_EXTENSIONS)}): {p}"
            )
        self._index = 0
        self._bad = {}
        self._just_skipped = []
        self._state = SourceState.OPEN

    def start(self) -> None:
        if self._state is SourceState.CLOSED:
            raise CameraError(f"{self.info.label}: open it before starting")
        self._next_due = time.perf_counter()
        self._k = 0
        self._fps_meter.reset()
        self._state = SourceState.RUNNING

    def stop(self) -> None:
        if self._state is SourceState.RUNNING:
            self._state = SourceState.OPEN

    def close(self) -> None:
        if self._video is not None:
            self._video.release()
            self._video = None
        self._files = []
        self._state = SourceState.CLOSED

    def stats(self) -> SourceStats:
        return self._fps_meter.stats_with_fps(self._stats)

    def settings(self) -> dict[str, Any]:
        return {
            "frame_rate": self.fps,
            "loop": self.loop,
            "every_frame": self.every_frame,
            "paused": self.paused,
        }

    def setting_limits(self) -> dict[str, SettingLimits]:
        return {
            "frame_rate": SettingLimits(0, 1000, "Hz"),
            "loop": SettingLimits(),
            "every_frame": SettingLimits(),
        }

    @property
    def recorded_fps(self) -> float | None:
        """The rate it was recorded at: a video's own, or a folder's from the median interval between its
        files' modification times; None when unknown (times copied away, one file)."""
        if self._video is not None:
            fps = float(self._video.get(cv2.CAP_PROP_FPS) or 0.0)
            return fps if 0 < fps <= 1000 else None
        times = sorted(f.stat().st_mtime for f in self._files if f.exists())
        gaps = np.diff(times)
        gaps = gaps[gaps > 0]
        if len(gaps) < max(1, (len(times) - 1) // 2):  # most files share a time: no recorded rate
            return None
        fps = 1.0 / float(np.median(gaps))
        return fps if 0 < fps <= 1000 else None

    @property
    def position(self) -> int:
        """Index of the frame last delivered (-1 before the first)."""
        return self._pos

    def step(self, delta: int) -> int:
        """Pause and deliver the frame `delta` away from the one shown (clamped to the recording) once;
        returns its index."""
        n = len(self)
        target = min(max(self._pos + int(delta), 0), max(n - 1, 0))
        self.paused = True
        if self._video is not None:
            self._video.set(cv2.CAP_PROP_POS_FRAMES, target)
        else:
            self._index = target
            if delta < 0:  # stepping back over an unreadable file: the readable one before it
                while self._index > 0 and self._files[self._index] in self._bad:
                    self._index -= 1
        self._step_pending = True
        return target

    def configure(self, **settings: Any) -> dict[str, Any]:
        applied: dict[str, Any] = {}
        for key, value in settings.items():
            if key == "frame_rate":
                if float(value) < 0:
                    raise CameraError(f"replay frame rate must be >= 0, got {value}")
                self.fps = float(value)
            elif key == "loop":
                self.loop = bool(value)
            elif key == "every_frame":
                self.every_frame = bool(value)
            elif key == "paused":
                self.paused = bool(value)
                self._next_due = time.perf_counter()  # resuming does not catch up
            else:
                raise CameraError(f"{self.info.label}: cannot set {key}")
            applied[key] = value
        return applied

    def __len__(self) -> int:
        if self._video is not None:
            return max(int(self._video.get(cv2.CAP_PROP_FRAME_COUNT)), 0)
        return len(self._files)

    def _next_image(self) -> tuple[np.ndarray, dict[str, Any]] | None:
        """The next image and its meta, or None at the end of the recording."""
        if self._video is not None:
            ok, bgr = self._video.read()
            if not ok:
                return None
            pos = int(self._video.get(cv2.CAP_PROP_POS_FRAMES)) - 1
            img = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            if np.array_equal(img[::7, ::7, 0], img[::7, ::7, 1]):  # grey video stored as colour
                img = np.ascontiguousarray(img[:, :, 0])
            return img, {"file": str(self.path), "index": pos}
        while self._index < len(self._files):
            f = self._files[self._index]
            self._index += 1
            if f in self._bad:
                continue
            try:
                img = imread(f)
            except (DataError, OSError, ValueError, cv2.error) as exc:
                self._skip(f, exc)
                continue
            return img, {"file": str(f), "index": self._index - 1}
        return None

    def _skip(self, f: Path, exc: BaseException) -> None:
        why = str(exc) if isinstance(exc, DataError) else f"cannot read image {f} ({exc})"
        self._bad[f] = why.splitlines()[0] if why else type(exc).__name__
        self._just_skipped.append(f"skipped {f.name}: {self._bad[f]}")
        _log.warning("%s: %s", self.info.label, self._just_skipped[-1])

    def _all_bad(self) -> bool:
        return bool(self._files) and len(self._bad) == len(self._files)

    def _rewind(self) -> None:
        if self._video is not None:
            self._video.set(cv2.CAP_PROP_POS_FRAMES, 0)
        self._index = 0

    def read(self, timeout_s: float = 1.0) -> Frame:
        if self._state is not SourceState.RUNNING:
            raise CameraError(f"{self.info.label} is {self._state}, not running: call start() first")
        stepping, self._step_pending = self._step_pending, False
        if self.paused and not stepping:
            time.sleep(min(max(timeout_s, 0.0), 0.05))
            raise CameraTimeout(f"{self.info.label}: paused")
        if self.fps > 0 and not stepping:
            wait = self._next_due - time.perf_counter()
            if wait > timeout_s:
                time.sleep(max(timeout_s, 0.0))
                self._stats.timeouts += 1
                raise CameraTimeout(f"{self.info.label}: no frame within {timeout_s:.3f} s")
            if wait > 0:
                time.sleep(wait)
            # the next frame is due one period after this one: a slow consumer never gets a burst
            self._next_due = max(self._next_due, time.perf_counter()) + 1.0 / self.fps
        item = self._next_image()
        if item is None and self.loop and not self._all_bad():
            self._rewind()
            item = self._next_image()
        if item is None:
            if self._all_bad():
                first = next(iter(self._bad.values()))
                n = len(self._files)
                raise CameraError(
                    f"{self.info.label}: none of the {n} image{'s' if n > 1 else ''} can be read "
                    f"(first: {first})"
                )
            raise EndOfStream(f"{self.info.label}: end of recording after {self._stats.delivered} frames")
        img, meta = item
        self._pos = int(meta["index"])
        meta["total"] = len(self)
        meta["skipped_files"] = len(self._bad)
        if self._just_skipped:
            meta["skipped"], self._just_skipped = self._just_skipped, []
        meta.update(pixel_format="Mono8" if img.ndim == 2 else "RGB8", incomplete=False)
        if img.dtype == np.uint16:
            meta["pixel_format"] = "Mono16" if img.ndim == 2 else "RGB16"
        frame = Frame(
            image=img, frame_id=self._k, timestamp_ns=time.time_ns(), source=self.info.spec, meta=meta
        )
        self._k += 1
        self._stats.delivered += 1
        self._fps_meter.tick()
        return frame
