"""Inspector = model bundle + post-processing settings + how frames become model input.

It is the single place where a frame turns into an InspectionResult, used by the CLI, the GUI's
inference worker, validation and benchmarks alike.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np
import torch

from inspection_core.data.imageio import to_rgb_float
from inspection_core.data.tiling import DeviceStitcher, TileGrid
from inspection_core.errors import DataError
from inspection_core.models.backends import with_backend
from inspection_core.models.batching import predict_tensor
from inspection_core.models.bundle import ModelBundle
from inspection_core.postprocess.device import DevicePostprocessor, HostMemory
from inspection_core.postprocess.settings import (
    PostprocessOutput,
    PostprocessSettings,
    check_number,
    postprocess_map,
)
from inspection_core.types import Frame, InspectionResult

MAX_OVERLAP = 0.9  # tiles overlapping more than this multiply the work without seeing more
MAX_BATCH = 4096
BORDER = 0.25  # reflect padding of a tiled frame, as a fraction of the tile (see Preprocessing)


@dataclass(frozen=True)
class Preprocessing:
    """How a frame reaches the model: resized whole (tile=False) or at native resolution (tile=True),
    cut into overlapping tiles of the model's input size or, with whole_frame and a model that takes
    any size (`AnomalyModel.any_size`, e.g. PatchCore), in one fully convolutional pass: no tile seams
    and no overlap computed twice. Models that need their input size fall back to tiles.

    scale < 1 shrinks the frame first (e.g. 0.5 inspects a 5-MP frame as 1.25 MP). border (tiles and
    whole frame): the frame is reflect-padded by this fraction of a tile on each side first, so its
    edges sit inside tiles like every other pixel instead of on a tile's edge, where the network's zero
    padding and the map's smoothing make them look anomalous (on synthetic 500×1250 frames, tiles without
    it drew regions along the frame's edges); the map is cropped back to the frame. A saved preprocessing
    without it (older recipes) has none, so it is inspected as it was calibrated.
    """

    tile: bool = False
    overlap: float = 0.25
    scale: float = 1.0
    max_batch: int = 64
    whole_frame: bool = False
    border: float = BORDER

    def __post_init__(self) -> None:
        """Refuse what would fail later (overlap 1.0: a zero tile stride) with a ValueError naming it."""
        for name in ("tile", "whole_frame"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, got {getattr(self, name)!r}")
        check_number("overlap", self.overlap, 0.0, MAX_OVERLAP)
        check_number("scale", self.scale, 0.0, 1.0, lo_open=True)
        check_number("max_batch", self.max_batch, 1, MAX_BATCH, integer=True)
        check_number("border", self.border, 0.0, 1.0)

    def to_dict(self) -> dict[str, float | bool | int]:
        return {
            "tile": self.tile,
            "overlap": self.overlap,
            "scale": self.scale,
            "max_batch": self.max_batch,
            "whole_frame": self.whole_frame,
            "border": self.border,
        }

    def border_px(self, tile: tuple[int, int], frame: tuple[int, int]) -> int:
        """Pixels of reflect padding on each side of a (scaled) frame (0 when not tiling)."""
        if not self.tile or self.border <= 0:
            return 0
        return max(0, min(round(self.border * min(tile)), min(frame) - 1))

    def mode(self, any_size: bool) -> str:
        """How frames actually reach a model (any_size: it takes any input size): the units of its
        calibrated thresholds depend on this, so a model is best used the way it was calibrated."""
        if not self.tile:
            return "resized"
        return "whole frame" if self.whole_frame and any_size else "tiles"

    @classmethod
    def from_dict(cls, d: dict | None) -> Preprocessing:
        """From a recipe or a model's info; ValueError when a value is of the wrong type or out of range."""
        d = d or {}
        if not isinstance(d, dict):
            raise ValueError(f"preprocessing must be an object, got {type(d).__name__}")
        if d and "border" not in d:  # saved before frames were padded: inspect as it was calibrated
            d = {**d, "border": 0.0}
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


def model_inputs(images: Sequence[np.ndarray], size: tuple[int, int], pre: Preprocessing) -> torch.Tensor:
    """(N, 3, H, W) float: the resized frames or the tiles `Inspector` feeds the model (to fit on
    exactly what inspection will see)."""
    chunks = []
    for img in images:
        if not pre.tile:
            chunks.append(to_rgb_float(img, size)[None])
            continue
        im = img
        if pre.scale != 1.0:
            h, w = img.shape[:2]
            new = (max(1, round(w * pre.scale)), max(1, round(h * pre.scale)))
            im = cv2.resize(img, new, interpolation=cv2.INTER_AREA)
        if im.shape[0] < size[0] or im.shape[1] < size[1]:
            raise DataError(
                f"frame {im.shape[1]}x{im.shape[0]} (after scale {pre.scale}) is smaller than the "
                f"{size[1]}x{size[0]} tile: switch tiling off or use a smaller image size"
            )
        pad = pre.border_px(size, im.shape[:2])
        if pad:  # numpy/cv2 REFLECT_101 is torch's "reflect": the same pixels as the Inspector pads
            im = cv2.copyMakeBorder(im, pad, pad, pad, pad, cv2.BORDER_REFLECT_101)
        chunks.append(TileGrid(im.shape[:2], size, pre.overlap).split(to_rgb_float(im)))
    return torch.from_numpy(np.ascontiguousarray(np.concatenate(chunks).transpose(0, 3, 1, 2)))


@dataclass(frozen=True)
class RawPrediction:
    """Model output for one frame at frame resolution, before thresholds: what tuning caches."""

    raw_map: np.ndarray
    raw_score: float
    timings: dict[str, float]


class Inspector:
    """Frame → InspectionResult. Not thread-safe: one inference thread owns one Inspector.

    post_on_device: post-process large (tiled) frames where their map was made (DevicePostprocessor);
    None = on a GPU only (on a CPU, cv2 on the numpy map is faster than torch's convolutions).
    backend: what runs the model — 'torch', 'onnxruntime' (the CPU; the model's ONNX export, made
    and cached beside the model when missing or stale), 'openvino' (likewise, its OpenVINO IR; where
    the openvino package is installed), 'auto' (onnxruntime on a CPU where the model
    exports, else torch), or None to keep the bundle's own (`models.backends.with_backend`). Whole-frame
    passes (any input size) always run through torch.
    """

    def __init__(
        self,
        bundle: ModelBundle,
        settings: PostprocessSettings | None = None,
        preprocessing: Preprocessing | None = None,
        post_on_device: bool | None = None,
        backend: str | None = None,
    ) -> None:
        self.bundle = bundle if backend is None else with_backend(bundle, backend)
        self.settings = settings or PostprocessSettings()
        self.preprocessing = preprocessing or Preprocessing()
        self.post_on_device = post_on_device
        self._memory = HostMemory()  # host buffers for maps coming down from a GPU
        self._device_post: DevicePostprocessor | None = None
        self._stitch_cache: tuple[tuple[TileGrid, str], DeviceStitcher] | None = None

    @property
    def model(self):  # noqa: ANN201 - AnomalyModel, kept loose to avoid import cycles in annotations
        return self.bundle.model

    @property
    def device(self) -> torch.device:
        return self.bundle.model.device

    @property
    def backend(self) -> str:
        """What runs the model: 'torch' or 'onnxruntime'."""
        return self.bundle.backend

    def with_settings(self, settings: PostprocessSettings) -> Inspector:
        return Inspector(self.bundle, settings, self.preprocessing, self.post_on_device)

    # --- model input ----------------------------------------------------------------------
    def _batches(self, images: list[np.ndarray]) -> tuple[np.ndarray, list[tuple[int, int]]]:
        size = self.model.image_size
        return np.stack([to_rgb_float(im, size) for im in images]), [im.shape[:2] for im in images]

    @torch.inference_mode()
    def _run_model(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, H, W, 3) float → raw maps (N, h, w) and scores (N,), in chunks of max_batch."""
        return predict_tensor(
            self.model, batch, self.preprocessing.max_batch, self.bundle.predict, channels_last=True
        )

    def warm_up(self) -> float:
        """One inference on a blank frame at the model's input size; returns the seconds it took.

        What a model prepares on its first call on a GPU (CUDA-graph capture, cuDNN plans, SCL-VI's
        compiled patch scan: ~20 s) then happens before live frames arrive instead of on the first one.
        Large tiled frames still prepare their tile-batch shape on the first real frame.
        """
        h, w = self.model.image_size
        t0 = time.perf_counter()
        self.predict_raw([np.full((h, w, 3), 128, np.uint8)])
        return time.perf_counter() - t0

    def predict_raw(self, images: Sequence[np.ndarray]) -> list[RawPrediction]:
        """Raw maps at each image's own resolution (tiled or resized according to preprocessing)."""
        imgs = [self._check(im) for im in images]
        if not imgs:
            return []
        if self.preprocessing.tile:
            return [self._predict_tiled(im) for im in imgs]
        t0 = time.perf_counter()
        batch, shapes = self._batches(imgs)
        t1 = time.perf_counter()
        maps, scores = self._run_model(batch)
        t2 = time.perf_counter()
        out = []
        for m, s, (h, w) in zip(maps, scores, shapes, strict=True):
            full = m if m.shape == (h, w) else cv2.resize(m, (w, h), interpolation=cv2.INTER_LINEAR)
            out.append(RawPrediction(full, float(s), {}))
        t3 = time.perf_counter()
        n = len(imgs)
        timing = {
            "preprocess": (t1 - t0) * 1e3 / n,
            "model": (t2 - t1) * 1e3 / n,
            "resize": (t3 - t2) * 1e3 / n,
        }
        return [replace(r, timings=timing) for r in out]

    # the reused pinned buffer (_to_host) is then always made and written in inference mode: a tensor made
    # in it cannot be written outside it, and callers may or may not be in inference mode
    @torch.inference_mode()
    def _predict_tiled(self, image: np.ndarray) -> RawPrediction:
        """A large frame's raw map on the host (see _map_on_device)."""
        full, score, timing = self._map_on_device(image)
        t0 = time.perf_counter()
        out = self._to_host(full)
        timing["to host"] = (time.perf_counter() - t0) * 1e3
        return RawPrediction(out, score, timing)

    @torch.inference_mode()
    def _map_on_device(self, image: np.ndarray) -> tuple[torch.Tensor, float, dict[str, float]]:
        """Tile, predict and stitch on the model's device: only the uint8 frame goes up, which keeps a
        5-MP frame within tens of milliseconds on a GPU. Returns the (H, W) raw map, still on the
        device, the frame's raw score and the stages' times."""
        t0 = time.perf_counter()
        dev = self.device
        h, w = image.shape[:2]
        x = torch.from_numpy(np.ascontiguousarray(image)).to(dev)
        scale = 65535.0 if image.dtype == np.uint16 else 255.0
        x = x.float().div_(scale)
        x = x[None, None] if x.ndim == 2 else x[..., :3].permute(2, 0, 1)[None]
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        sc = self.preprocessing.scale
        if sc != 1.0:
            size = (max(1, round(h * sc)), max(1, round(w * sc)))
            x = torch.nn.functional.interpolate(x, size=size, mode="area")
        fh, fw = x.shape[-2:]
        th, tw = self.model.image_size
        pad = self.preprocessing.border_px((th, tw), (fh, fw))
        if pad:  # the frame's edges inside tiles (see Preprocessing.border); cropped again below
            x = torch.nn.functional.pad(x, (pad, pad, pad, pad), mode="reflect")
            fh, fw = x.shape[-2:]
        if fh < th or fw < tw:
            x = torch.nn.functional.pad(x, (0, max(0, tw - fw), 0, max(0, th - fh)), mode="replicate")
        t1 = time.perf_counter()
        if self.whole_frame:
            m, peak = self.bundle.predict_frame(x)
            full = m[0].float()[pad : fh - pad, pad : fw - pad]
            if (fh - 2 * pad, fw - 2 * pad) != (h, w):
                full = torch.nn.functional.interpolate(full[None, None], size=(h, w), mode="bilinear")[0, 0]
            # the model's peak is the frame's unless the frame was padded (smaller than a tile) or scaled
            score = float(peak[0]) if tuple(x.shape[-2:]) == (h, w) else float(full.max())
            t2 = time.perf_counter()
            # the score is the map's peak (predict_frame), not the model's image score: deep features see
            # context in one pass that no fitted tile had (on the simulated web the model's score gave a
            # frame AUROC of 0.36); calibration runs in the same mode, so the units agree
            return full, score, {"preprocess": (t1 - t0) * 1e3, "model": (t2 - t1) * 1e3}
        grid = TileGrid((fh, fw), (th, tw), self.preprocessing.overlap)
        positions = grid.positions
        maps, scores = [], []
        step = max(1, self.preprocessing.max_batch)
        for i in range(0, len(positions), step):
            # tiles are cut one batch at a time: a 5-MP frame never exists as one big 3-channel tile stack
            tiles = torch.stack([x[0, :, y : y + th, xx : xx + tw] for y, xx in positions[i : i + step]])
            m, s_ = self.bundle.predict(tiles)
            maps.append(m.float())
            scores.append(s_.float())
        tmaps = torch.cat(maps)
        t2 = time.perf_counter()
        full = self._stitcher(grid, dev)(tmaps)
        if pad:
            full = full[pad : fh - pad, pad : fw - pad]
        if (fh - 2 * pad, fw - 2 * pad) != (h, w):
            full = torch.nn.functional.interpolate(full[None, None], size=(h, w), mode="bilinear")[0, 0]
        score = float(torch.cat(scores).max())  # waits for the model: stitch includes its tail
        t3 = time.perf_counter()
        return (
            full,
            score,
            {"preprocess": (t1 - t0) * 1e3, "model": (t2 - t1) * 1e3, "stitch": (t3 - t2) * 1e3},
        )

    def _stitcher(self, grid: TileGrid, dev: torch.device) -> DeviceStitcher:
        """The stitcher of this frame geometry, kept while frames keep their size (a camera's do)."""
        key = (grid, str(dev))
        if self._stitch_cache is None or self._stitch_cache[0] != key:
            self._stitch_cache = (key, DeviceStitcher(grid, dev))
        return self._stitch_cache[1]

    @property
    def whole_frame(self) -> bool:
        """Large frames go through the model in one pass (see Preprocessing.whole_frame)."""
        return self.preprocessing.whole_frame and self.model.any_size

    def _to_host(self, t: torch.Tensor) -> np.ndarray:
        """A GPU map back to the host through a reused pinned buffer: a pageable copy of a 5-MP float
        map takes 15 ms on an H200's host; pinned runs at full bus speed."""
        if t.device.type != "cuda":
            return t.numpy()
        buf = self._memory.staging(tuple(t.shape), t.dtype, t.device)
        buf.copy_(t)
        return buf.numpy().copy()  # callers keep maps (tuning caches them): never hand out the buffer

    @staticmethod
    def _check(image: np.ndarray) -> np.ndarray:
        if not isinstance(image, np.ndarray) or image.ndim not in (2, 3) or image.size == 0:
            raise DataError(f"not an image: array of shape {getattr(image, 'shape', None)}")
        if image.ndim == 3 and image.shape[2] not in (1, 3, 4):
            raise DataError(f"image has {image.shape[2]} channels; expected 1, 3 or 4")
        if min(image.shape[:2]) < 8:
            raise DataError(f"image too small to inspect: {image.shape[1]}x{image.shape[0]}")
        return image

    # --- full inspection ------------------------------------------------------------------
    def finish(
        self, frame_id: int, raw: RawPrediction, settings: PostprocessSettings | None = None
    ) -> InspectionResult:
        """Post-process a cached raw prediction (re-thresholding needs no re-inference)."""
        t0 = time.perf_counter()
        out = postprocess_map(
            raw.raw_map, raw.raw_score, self.bundle.normalization, settings or self.settings
        )
        return self._result(frame_id, out, raw.raw_score, raw.timings, t0)

    def _result(
        self,
        frame_id: int,
        out: PostprocessOutput,
        raw_score: float,
        timings: dict[str, float],
        t_post: float,
    ) -> InspectionResult:
        timings = {**timings, "postprocess": (time.perf_counter() - t_post) * 1e3}
        timings["total"] = sum(timings.values())
        return out.to_result(frame_id, raw_score, self.bundle.name, timings)

    @property
    def posts_on_device(self) -> bool:
        """Large frames are post-processed on the model's device (see post_on_device)."""
        if self.post_on_device is None:
            return self.preprocessing.tile and self.device.type == "cuda"
        return self.preprocessing.tile and self.post_on_device

    def inspect(self, frame: Frame | np.ndarray) -> InspectionResult:
        image = frame.image if isinstance(frame, Frame) else frame
        fid = frame.frame_id if isinstance(frame, Frame) else 0
        if not self.posts_on_device:
            if self.preprocessing.tile:
                return self.finish(fid, self._predict_tiled(self._check(image)))
            (raw,) = self.predict_raw([image])
            return self.finish(fid, raw)
        full, score, timing = self._map_on_device(self._check(image))
        t0 = time.perf_counter()
        if self._device_post is None:
            self._device_post = DevicePostprocessor(self._memory)
        out = self._device_post.run(full, score, self.bundle.normalization, self.settings)
        return self._result(fid, out, score, timing, t0)

    def inspect_many(self, frames: Sequence[Frame | np.ndarray]) -> list[InspectionResult]:
        images = [f.image if isinstance(f, Frame) else f for f in frames]
        ids = [f.frame_id if isinstance(f, Frame) else i for i, f in enumerate(frames)]
        return [self.finish(i, r) for i, r in zip(ids, self.predict_raw(images), strict=True)]
