"""Post-processing of a large map where it was made (the GPU): same results as `postprocess_map`.

On the H200's host, thresholds, opening and region statistics of a 5-MP map cost 8 ms on a good frame
and 28-37 ms with ~150 regions, as much again as the inference. Here
the normalisation, smoothing, ROI, threshold, opening and per-region statistics run as a few tensor
operations on the map's device; only the labelling itself runs on the host (cv2's connected components
of the 5-MB mask take ~2 ms; a GPU labelling needs a union-find that torch lacks), and the labels go
back up for the statistics. What comes down: the mask, the normalised map and a few numbers a region.
On the H200: 6-7 ms instead of 23-54 ms on its host for a 2448×2048 frame.
"""

from __future__ import annotations

import functools
import math
import threading
import weakref
from collections.abc import Callable

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from inspection_core.postprocess.normalization import Normalization
from inspection_core.postprocess.regions import RegionStats
from inspection_core.postprocess.settings import (
    ALARM_CALIBRATION,
    ALARM_OUTPUT,
    PostprocessOutput,
    PostprocessSettings,
    is_ng,
    scale_roi_score,
)
from inspection_core.types import Verdict


def gaussian_blur(t: torch.Tensor, sigma: float) -> torch.Tensor:
    """(H, W) float map blurred like `smooth_map` (cv2.GaussianBlur: kernel 2·round(3σ)+1, borders
    mirrored without repeating the edge, cv2's BORDER_REFLECT_101 = torch's 'reflect')."""
    if sigma <= 0:
        return t
    r = int(round(3 * sigma))
    x = torch.arange(-r, r + 1, device=t.device, dtype=torch.float64)
    k = torch.exp(-(x**2) / (2 * sigma**2))
    k = (k / k.sum()).to(t.dtype)
    img = t[None, None]
    mode = "reflect" if min(t.shape) > r else "replicate"  # reflect needs the map wider than the radius
    cudnn = torch.backends.cudnn
    keep = {"enabled": cudnn.enabled, "benchmark": cudnn.benchmark, "deterministic": cudnn.deterministic}
    with cudnn.flags(**keep, allow_tf32=False):  # TF32 would round the map to ~1e-3
        img = F.conv2d(F.pad(img, (r, r, 0, 0), mode=mode), k.view(1, 1, 1, -1))
        img = F.conv2d(F.pad(img, (0, 0, r, r), mode=mode), k.view(1, 1, -1, 1))
    return img[0, 0]


@functools.lru_cache(maxsize=16)
def _ellipse_rows(radius: int) -> tuple[tuple[int, int], ...]:
    """cv2's elliptical structuring element as rows: (vertical offset, half-width of its run of ones);
    every row of cv2's ellipse is one run centred on the middle column."""
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1,) * 2)
    return tuple((dy - radius, int(k[dy].sum()) // 2) for dy in range(k.shape[0]) if k[dy].any())


def _dilate(x: torch.Tensor, radius: int, outside: float) -> torch.Tensor:
    """Max over cv2's ellipse of a (1, 1, H, W) 0/1 float map, `outside` beyond the borders: one
    horizontal max-pool per distinct row width, shifted by the row's offset. The same result as a 0/1
    convolution with the element, at a few memory passes instead of a 2-D convolution of a 5-MP map
    (1.8 ms of a tiled frame's post-processing on an H100)."""
    h, w = x.shape[-2:]
    xp = F.pad(x, (radius,) * 4, value=outside)
    pooled: dict[int, torch.Tensor] = {}
    out = None
    for dy, half in _ellipse_rows(radius):
        if half not in pooled:
            pooled[half] = F.max_pool2d(xp, (1, 2 * half + 1), stride=1) if half else xp
        # pooled column c is centred on padded column c + half, i.e. on frame column c + half - radius
        row = pooled[half][..., radius + dy : radius + dy + h, radius - half : radius - half + w]
        out = row if out is None else torch.maximum(out, row)
    assert out is not None
    return out


def open_mask(mask: torch.Tensor, radius: int) -> torch.Tensor:
    """Morphological opening with cv2's elliptical element and cv2's borders (outside the frame counts
    as set for the erosion and as unset for the dilation); exact (see _dilate)."""
    if radius <= 0:
        return mask
    x = mask.to(torch.float32)[None, None]
    eroded = 1.0 - _dilate(1.0 - x, radius, outside=0.0)  # erosion = complement of the complement's dilation
    return _dilate(eroded, radius, outside=0.0)[0, 0] > 0.5


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.current_stream(dev).synchronize()


def _recorded(dev: torch.device) -> torch.cuda.Event | None:
    """An event at this point of the device's stream, to wait for the work queued so far only."""
    if dev.type != "cuda":
        return None
    event = torch.cuda.Event()
    event.record(torch.cuda.current_stream(dev))
    return event


class _Download:
    """A copy from the device under way; `array()` (after the stream is synchronised) is its result."""

    def __init__(self, buf: torch.Tensor, owned: bool, release: Callable[[], None] | None) -> None:
        # owned: buf is the result's own memory; else a reused staging buffer
        self._buf, self._owned, self._release = buf, owned, release

    def array(self) -> np.ndarray:
        if not self._owned:
            return self._buf.numpy().copy()  # a reused staging buffer: the result needs its own memory
        arr = self._buf.numpy()
        if self._release is not None:  # counts page-locked memory until the last view of arr is gone
            weakref.finalize(arr.base, self._release)
        return arr


class HostMemory:
    """Host memory for what a result keeps (map, mask) and for the labels.

    On a GPU a result's arrays are page-locked blocks from torch's caching host allocator: the 20-MB map
    of a 5-MP frame comes down at bus speed with no second copy on the host (fresh pageable memory is
    faulted in page by page: ≈ 4 ms on the H200's host). Results can live long (the NG strip keeps 12,
    a records queue more), so at most `limit_bytes` of such arrays are alive at once (1 GiB: ≈ 40 results
    of 5 MP); past that, arrays are ordinary memory copied from a reused staging buffer (≈ 15 ms more a
    5-MP frame on the H200's host) and page-locked memory stays bounded.
    """

    def __init__(self, limit_bytes: int = 1 << 30) -> None:
        self.limit_bytes = limit_bytes
        self._live = 0
        self._lock = threading.Lock()
        self._staging: dict[tuple, torch.Tensor] = {}

    @property
    def live_bytes(self) -> int:
        """Bytes of result arrays in their own (page-locked on a GPU) memory alive now."""
        return self._live

    def _release(self, nbytes: int) -> None:
        with self._lock:
            self._live -= nbytes

    def staging(self, shape: tuple[int, ...], dtype: torch.dtype, dev: torch.device) -> torch.Tensor:
        """A reused host buffer (page-locked on a GPU) for data that does not outlive the call."""
        key = (shape, dtype, dev.type)
        buf = self._staging.get(key)
        if buf is None:
            buf = self._staging[key] = torch.empty(shape, dtype=dtype, pin_memory=dev.type == "cuda")
        return buf

    def down(self, t: torch.Tensor) -> _Download:
        """Start copying `t` to the host for a result (asynchronous on a GPU)."""
        nbytes = t.numel() * t.element_size()
        with self._lock:
            owned = self._live + nbytes <= self.limit_bytes
            self._live += nbytes if owned else 0
        shape, gpu = tuple(t.shape), t.device.type == "cuda"
        if owned:
            buf = torch.empty(shape, dtype=t.dtype, pin_memory=gpu)
        else:
            buf = self.staging(shape, t.dtype, t.device)
        buf.copy_(t, non_blocking=gpu)
        return _Download(buf, owned, functools.partial(self._release, nbytes) if owned else None)


class DevicePostprocessor:
    """Raw map on a device → PostprocessOutput. One per inference thread (it caches the ROI mask)."""

    def __init__(self, memory: HostMemory | None = None) -> None:
        self.memory = memory or HostMemory()
        self._roi_key: tuple | None = None
        self._roi_t: torch.Tensor | None = None
        self._roi_any = False  # the cached ROI covers any pixel (known on the host: no sync per frame)

    def _roi(
        self, settings: PostprocessSettings, shape: tuple[int, int], dev: torch.device
    ) -> torch.Tensor | None:
        key = (settings.roi, shape, str(dev))
        if key != self._roi_key:
            m = settings.roi.mask(shape)
            self._roi_t = None if m is None else torch.from_numpy(m.copy()).to(dev)  # cached: read-only
            self._roi_any = m is not None and bool(m.any())
            self._roi_key = key
        return self._roi_t

    @torch.inference_mode()
    def run(
        self, raw: torch.Tensor, raw_score: float, norm: Normalization, settings: PostprocessSettings
    ) -> PostprocessOutput:
        """Post-process an (H, W) raw map that lives on its device; see `postprocess_map` (a non-finite
        map, score or calibration: NG with an alarm, broken pixels at 1.0, score NaN)."""
        dev = raw.device
        h, w = raw.shape
        # whether every pixel is finite, read on the host after the stream's next sync (no extra stall)
        finite_t = torch.isfinite(raw.sum(dtype=torch.float64))
        amap = norm.map_unclipped(raw.float()).clamp_(0.0, 1.0).nan_to_num_(nan=1.0)
        amap = gaussian_blur(amap, settings.smoothing_sigma)
        roi = self._roi(settings, (h, w), dev)
        score = float(norm.score(raw_score))
        if roi is not None:
            amap = torch.where(roi, amap, 0.0)
            if self._roi_any:
                inside = float(torch.where(roi, raw, -math.inf).max())
                score = float(norm.score(scale_roi_score(raw_score, inside, float(raw.max()))))
            else:
                score = 0.0
        mask = amap >= settings.pixel_threshold
        if roi is not None:
            mask &= roi
        mask = open_mask(mask, settings.morphology_radius)
        mask_down = self.memory.down(mask.view(torch.uint8))
        mask_ready = _recorded(dev)
        map_down = self.memory.down(amap)  # comes down while the host labels the mask
        if mask_ready is not None:
            mask_ready.synchronize()
        m8 = mask_down.array()
        out_mask, defects = np.zeros((h, w), bool), []
        if cv2.countNonZero(m8):
            stats, labels = self._regions(amap, m8, dev)
            keep = stats.area >= max(settings.min_defect_area, 1)
            if keep.all():
                out_mask = m8.view(bool)
            elif keep.any():
                kept = self.memory.down(torch.from_numpy(np.r_[False, keep]).to(dev)[labels])
                _sync(dev)
                out_mask = kept.array()
            defects = stats.defects(keep, settings.pixel_size_mm)
        _sync(dev)  # the map's copy
        alarm = ""
        if not norm.is_finite():
            alarm = ALARM_CALIBRATION
        elif not (math.isfinite(raw_score) and bool(finite_t)):
            alarm = ALARM_OUTPUT
        if alarm:
            score = math.nan
        ng = is_ng(score, defects, settings, roi is not None, alarm)
        verdict = Verdict.NG if ng else Verdict.OK
        return PostprocessOutput(map_down.array(), out_mask, defects, score, verdict, alarm)

    def _regions(
        self, amap: torch.Tensor, m8: np.ndarray, dev: torch.device
    ) -> tuple[RegionStats, torch.Tensor]:
        """Label the mask on the host, then every region's statistics in one pass on the device (two
        scatter reductions and one sum over the set pixels, one download); returns them and the labels
        on the device (0 = background)."""
        h, w = m8.shape
        labels = self.memory.staging((h, w), torch.int32, dev)
        n, _ = cv2.connectedComponents(m8, labels=labels.numpy(), connectivity=8, ltype=cv2.CV_32S)
        lab_t = labels.to(dev, non_blocking=True)
        flat = lab_t.view(-1)
        idx = torch.nonzero(flat, as_tuple=True)[0]
        lab = flat[idx].long() - 1
        ys = idx // w
        xs = idx - ys * w
        xyv = torch.stack([xs.double(), ys.double(), amap.reshape(-1)[idx].double()], 1)  # (P, 3)
        k = n - 1
        ones = torch.ones((xyv.shape[0], 1), dtype=torch.float64, device=dev)
        sums = torch.zeros((k, 4), dtype=torch.float64, device=dev).index_add_(
            0, lab, torch.cat([ones, xyv], 1)
        )
        lo = torch.zeros((k, 2), dtype=torch.float64, device=dev)
        lo.scatter_reduce_(0, lab[:, None].expand(-1, 2), xyv[:, :2], "amin", include_self=False)
        hi = torch.zeros((k, 3), dtype=torch.float64, device=dev)
        hi.scatter_reduce_(0, lab[:, None].expand(-1, 3), xyv, "amax", include_self=False)
        table = torch.cat([sums, lo, hi], 1).cpu().numpy()  # area, Σx, Σy, Σv, x0, y0, x1-1, y1-1, vmax
        area = table[:, 0]
        box = table[:, 4:8].astype(np.int64)
        stats = RegionStats(
            area.astype(np.int64),
            box[:, 0],
            box[:, 1],
            box[:, 2] + 1,
            box[:, 3] + 1,
            table[:, 1] / area,
            table[:, 2] / area,
            table[:, 8],
            table[:, 3] / area,
        )
        return stats, lab_t
