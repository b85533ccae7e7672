"""The simulated web: a textured surface scrolling under a virtual line camera, with injected defects.

It is the embedded demo (the GUI and the demo model run on it) and an end-to-end test rig: every
frame carries its ground truth in `meta["defect_mask"]` (HxW bool) and `meta["defect_types"]`.
With `defect_rate=0` it is a source of good training frames.

Geometry: frame n shows absolute web rows [n*speed_px, n*speed_px + height). Defects live on the
web, so with speed_px < height a defect moves up through several frames like on a real line.
Timing: with fps > 0 the camera is free-running; a consumer that falls more than `queue_frames`
behind loses frames (counted in stats().lost), as with a real camera's buffer queue. fps=0 delivers
frames as fast as they are read (deterministic; for tests, recording and training data).
"""

from __future__ import annotations

import time
from typing import Any

import cv2
import numpy as np

from inspection_core.camera.base import (
    CameraTimeout,
    FpsMeter,
    FrameSource,
    SourceInfo,
    SourceState,
    SourceStats,
)
from inspection_core.camera.features import SettingLimits
from inspection_core.camera.web_defects import DEFECT_TYPES, WebDefect, check_types, composite, make_defect
from inspection_core.camera.web_texture import TEXTURES, load_texture, make_surface
from inspection_core.errors import CameraError
from inspection_core.types import Frame

NOMINAL_EXPOSURE_US = 10_000.0
_PIXEL_FORMATS = ("Mono8", "RGB8")
_FPS_WINDOW_S = 2.0
_NOISE_ROWS = 256


class SimulatedWeb(FrameSource):
    """A moving textured web (default 1024x1024 Mono8 at 15 fps) with defects at `defect_rate`.

    defect_rate: expected number of new defects per frame-height of web (≈ fraction of frames with a
    defect when speed_px == height). texture: gravel | brick | grass | procedural.
    """

    def __init__(
        self,
        width: int = 1024,
        height: int = 1024,
        fps: float = 15.0,
        speed_px: int | None = None,
        texture: str = "gravel",
        texture_scale: float = 1.0,
        defect_rate: float = 0.1,
        defect_types: tuple[str, ...] | list[str] = DEFECT_TYPES,
        noise_sigma: float = 2.0,
        illumination: float = 0.08,
        seed: int = 0,
        queue_frames: int = 4,
    ) -> None:
        if texture not in TEXTURES:
            raise CameraError(f"unknown texture {texture!r}; choose one of {', '.join(TEXTURES)}")
        if defect_rate < 0:
            raise CameraError(f"defect_rate must be >= 0, got {defect_rate}")
        self._width, self._height = _check_size(width, height)
        self._fps = _check_fps(fps)
        self._speed = speed_px
        self._texture_name = texture
        self._texture_scale = float(texture_scale)
        self.defect_rate = float(defect_rate)
        self.defect_types = check_types(tuple(defect_types))
        self.noise_sigma = float(noise_sigma)
        self.illumination = float(illumination)
        self._seed = int(seed)
        self._queue = max(1, int(queue_frames))
        self._exposure_us = NOMINAL_EXPOSURE_US
        self._gain_db = 0.0
        self._pixel_format = "Mono8"
        self._state = SourceState.CLOSED
        self._stats = SourceStats()
        self._fps_meter = FpsMeter(maxlen=10_000, window_s=_FPS_WINDOW_S)
        self.info = SourceInfo(
            kind="simulated",
            spec=f"simulated:{width}x{height}",
            label=f"Simulated web {width}x{height} ({texture})",
            vendor="aoi-station",
            model="SimulatedWeb",
            id="simulated",
        )
        self._surface: np.ndarray | None = None

    # -- life cycle ---------------------------------------------------------------------------------
    @property
    def state(self) -> SourceState:
        return self._state

    def open(self) -> None:
        if self._state is not SourceState.CLOSED:
            return
        self._build()
        self._state = SourceState.OPEN

    def _build(self) -> None:
        """Quilt the surface and set up illumination; runs at open and when the size changes."""
        rng = np.random.default_rng(self._seed)
        tex = load_texture(self._texture_name, rng)
        if self._texture_scale != 1.0:
            tex = cv2.resize(
                tex, None, fx=self._texture_scale, fy=self._texture_scale, interpolation=cv2.INTER_CUBIC
            )
        web_rows = max(4096, 2 * self._height)
        web_cols = min(self._width, 2048)
        surf = make_surface(self._texture_name, tex, (web_rows, web_cols), rng)
        lo, hi = np.percentile(surf[::4, ::4], (1, 99))
        surf = 60.0 + (surf - lo) * (150.0 / max(float(hi - lo), 1e-6))  # texture spans ~60..210 DN
        if web_cols < self._width:
            surf = np.tile(surf, (1, -(-self._width // web_cols)))
        self._surface = np.ascontiguousarray(np.clip(surf[:, : self._width], 0, 255).astype(np.uint8))
        self._level = float(np.mean(self._surface))
        others = [t for t in TEXTURES if t not in (self._texture_name, "procedural")]  # photos: cheap to load
        self._foreign = load_texture(others[int(rng.integers(len(others)))], rng)
        y = np.linspace(-1, 1, self._height, dtype=np.float32)[:, None]
        x = np.linspace(-1, 1, self._width, dtype=np.float32)[None, :]
        # a line light: falls off across the web, slightly along it
        self._gain_field = (1.0 - self.illumination * x**2 - 0.3 * self.illumination * y**2).astype(
            np.float32
        )
        # a bank of sensor noise, read at a random row offset each frame (cv2.randn per 5-MP frame
        # would cost ~25 ms); rescaled when the gain changes
        self._noise_bank = np.random.default_rng(self._seed + 2).standard_normal(
            (self._height + _NOISE_ROWS, self._width), dtype=np.float32
        )
        self._noise_sigma_bank = 1.0
        self._rng = np.random.default_rng(self._seed + 1)
        self._defects: list[WebDefect] = []
        self._generated_until = 0
        self._n = 0

    def start(self) -> None:
        if self._state is SourceState.CLOSED:
            raise CameraError(f"{self.info.label}: open it before starting")
        self._t0 = time.perf_counter()
        self._t0_ns = time.time_ns()
        self._first = self._n
        self._fps_meter.reset()
        self._state = SourceState.RUNNING

    def stop(self) -> None:
        if self._state is SourceState.RUNNING:
            self._state = SourceState.OPEN

    def close(self) -> None:
        self._surface = None
        self._state = SourceState.CLOSED

    def stats(self) -> SourceStats:
        return self._fps_meter.stats_with_fps(self._stats)

    # -- settings -----------------------------------------------------------------------------------
    @property
    def speed_px(self) -> int:
        """Web advance per frame; default a quarter frame, so the surface visibly scrolls."""
        return int(self._speed) if self._speed else max(1, self._height // 4)

    def configure(self, **settings: Any) -> dict[str, Any]:
        applied: dict[str, Any] = {}
        rebuild = False
        for key, value in settings.items():
            if key == "exposure_us":
                if not 1 <= float(value) <= 1e6:
                    raise CameraError(f"exposure_us {value} out of range 1..1000000")
                self._exposure_us = float(value)
            elif key == "gain_db":
                if not 0 <= float(value) <= 24:
                    raise CameraError(f"gain_db {value} out of range 0..24")
                self._gain_db = float(value)
            elif key == "pixel_format":
                pf = {p.lower(): p for p in _PIXEL_FORMATS}.get(str(value).lower())
                if pf is None:
                    raise CameraError(
                        f"simulated web: pixel format {value} not offered ({', '.join(_PIXEL_FORMATS)})"
                    )
                value = self._pixel_format = pf
            elif key in ("width", "height"):
                w = int(value) if key == "width" else self._width
                h = int(value) if key == "height" else self._height
                self._width, self._height = _check_size(w, h)
                rebuild = True
            elif key == "frame_rate":
                self._fps = _check_fps(float(value))
            elif key == "defect_rate":
                if float(value) < 0:
                    raise CameraError(f"defect_rate must be >= 0, got {value}")
                self.defect_rate = float(value)
            elif key == "speed_px":
                self._speed = int(value)
            else:
                raise CameraError(f"{self.info.label}: cannot set {key}")
            applied[key] = value
        if rebuild and self._state is not SourceState.CLOSED:
            if self._state is SourceState.RUNNING:
                raise CameraError("stop the simulated web before changing its size")
            self._build()
        return applied

    def setting_limits(self) -> dict[str, SettingLimits]:
        return {
            "exposure_us": SettingLimits(1, 1e6, "us"),
            "gain_db": SettingLimits(0, 24, "dB"),
            "pixel_format": SettingLimits(choices=_PIXEL_FORMATS),
            "width": SettingLimits(16, 16384, "px", integer=True),
            "height": SettingLimits(16, 16384, "px", integer=True),
            "frame_rate": SettingLimits(0, 10_000, "Hz"),
            "defect_rate": SettingLimits(0, 10),
            "speed_px": SettingLimits(1, 16384, "px", integer=True),
        }

    def settings(self) -> dict[str, Any]:
        return {
            "exposure_us": self._exposure_us,
            "gain_db": self._gain_db,
            "pixel_format": self._pixel_format,
            "width": self._width,
            "height": self._height,
            "frame_rate": self._fps,
            "speed_px": self.speed_px,
            "defect_rate": self.defect_rate,
            "texture": self._texture_name,
        }

    # -- frames -------------------------------------------------------------------------------------
    def read(self, timeout_s: float = 1.0) -> Frame:
        if self._state is not SourceState.RUNNING:
            raise CameraError(f"{self.info.label} is {self._state}, not running: call start() first")
        if self._fps > 0:
            k = self._n - self._first
            now = time.perf_counter() - self._t0
            latest = int(now * self._fps)
            if latest - k >= self._queue:  # the consumer fell behind: the oldest frames were overwritten
                skipped = latest - self._queue + 1 - k
                self._stats.lost += skipped
                self._n += skipped
                k += skipped
            due = k / self._fps
            if due > now:
                if due - now > timeout_s:
                    time.sleep(max(timeout_s, 0.0))
                    self._stats.timeouts += 1
                    raise CameraTimeout(f"{self.info.label}: no frame within {timeout_s:.3f} s")
                time.sleep(due - now)
            ts = self._t0_ns + int(k / self._fps * 1e9)
        else:
            ts = time.time_ns()
        frame = self._render(self._n, ts)
        self._n += 1
        self._stats.delivered += 1
        self._fps_meter.tick()
        return frame

    def _ensure_defects(self, until_row: int) -> None:
        """Lay defects on the web ahead of the camera, one frame-height chunk at a time."""
        h = self._height
        scale = min(self._width, self._height) / 1024.0
        while self._generated_until < until_row:
            top = self._generated_until
            for _ in range(int(self._rng.poisson(self.defect_rate)) if self.defect_rate > 0 else 0):
                kind = str(self._rng.choice(self.defect_types))
                alpha, target, delta, mask = make_defect(
                    kind, self._rng, max(scale, 0.12), self._level, self._foreign
                )
                dh, dw = mask.shape
                if dh >= h or dw >= self._width:  # larger than the frame: crop, keep it visible
                    alpha, target, delta, mask = (
                        a[: h - 2, : self._width - 2] for a in (alpha, target, delta, mask)
                    )
                    dh, dw = mask.shape
                y = top + int(self._rng.integers(0, max(h - dh, 1)))
                x = int(self._rng.integers(0, max(self._width - dw, 1)))
                self._defects.append(WebDefect(kind, y, x, alpha, target, delta, mask))
            self._generated_until += h

    def _render(self, n: int, timestamp_ns: int) -> Frame:
        assert self._surface is not None
        top = n * self.speed_px
        self._ensure_defects(top + self._height)
        self._defects = [d for d in self._defects if d.y + d.h > top]  # passed under the camera
        rows = (top + np.arange(self._height)) % self._surface.shape[0]
        surf = self._surface.take(rows, axis=0).astype(np.float32)
        mask = np.zeros((self._height, self._width), bool)
        kinds: list[str] = []
        boxes: list[dict[str, Any]] = []
        for d in self._defects:
            if composite(surf, mask, d, top):
                kinds.append(d.kind)
                y0, x0 = max(d.y - top, 0), d.x
                boxes.append({"type": d.kind, "bbox": [x0, y0, x0 + d.w, min(d.y - top + d.h, self._height)]})
        flicker = 1.0 + 0.015 * np.sin(n * 2 * np.pi / 97.0) + float(self._rng.normal(0, 0.004))
        gain = flicker * (self._exposure_us / NOMINAL_EXPOSURE_US) * 10 ** (self._gain_db / 20.0)
        surf *= self._gain_field
        sigma = self.noise_sigma * 10 ** (self._gain_db / 40.0)  # more gain, more visible noise
        if sigma != self._noise_sigma_bank:
            self._noise_bank *= sigma / max(self._noise_sigma_bank, 1e-9)
            self._noise_sigma_bank = sigma
        off = int(self._rng.integers(0, _NOISE_ROWS))
        cv2.scaleAdd(surf, gain, self._noise_bank[off : off + self._height], surf)
        img = cv2.convertScaleAbs(surf)  # saturating cast to uint8 (|x|: only noise dips below 0)
        if self._pixel_format == "RGB8":  # a slightly warm light on a grey product
            img = cv2.merge([img, cv2.convertScaleAbs(img, alpha=0.97), cv2.convertScaleAbs(img, alpha=0.9)])
        return Frame(
            image=img,
            frame_id=n,
            timestamp_ns=timestamp_ns,
            source=self.info.spec,
            meta={
                "exposure_us": self._exposure_us,
                "gain_db": self._gain_db,
                "pixel_format": self._pixel_format,
                "incomplete": False,
                "web_row": top,
                "texture": self._texture_name,
                "defect_mask": mask,
                "defect_types": kinds,
                "defects": boxes,
            },
        )


def _check_size(width: int, height: int) -> tuple[int, int]:
    if not (16 <= int(width) <= 16384 and 16 <= int(height) <= 16384):
        raise CameraError(f"simulated frame size {width}x{height} out of range 16..16384")
    return int(width), int(height)


def _check_fps(fps: float) -> float:
    if fps < 0 or fps > 10_000:
        raise CameraError(f"frame rate {fps} out of range (0 = as fast as possible, up to 10000)")
    return float(fps)
