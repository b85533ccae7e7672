"""Post-processing of a large map where it was made (the GPU): same results as `postprocess_map`.

On the H200's host, thresholds, opening and region statistics of a 5-MP map cost 8 ms on a good frame
and 28-37 ms with ~150 regions (patchcore_bench_h200_s4.json), as much again as the inference. Here
the normalisation, smoothing, ROI, threshold, opening and per-region statistics run as a few tensor
operations on the map's device; only the labelling itself runs on the host (cv2's connected components
of the 5-MB mask take ~2 ms; a GPU labelling needs a union-find that torch lacks), and the labels go
back up for the statistics. What comes down: the mask, the normalised map and a few numbers a region.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from inspection_core.postprocess.normalization import Normalization
from inspection_core.postprocess.regions import RegionStats
from inspection_core.postprocess.settings import (
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
    img = F.conv2d(F.pad(img, (r, r, 0, 0), mode=mode), k.view(1, 1, 1, -1))
    img = F.conv2d(F.pad(img, (0, 0, r, r), mode=mode), k.view(1, 1, -1, 1))
    return img[0, 0]


def open_mask(mask: torch.Tensor, radius: int) -> torch.Tensor:
    """Morphological opening with cv2's elliptical element and cv2's borders (outside the frame counts
    as set for the erosion and as unset for the dilation), as sums of a 0/1 convolution (exact)."""
    if radius <= 0:
        return mask
    k = torch.from_numpy(cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1,) * 2))
    k = k.to(mask.device, torch.float32)[None, None]
    full = float(k.sum())
    x = mask.to(torch.float32)[None, None]
    eroded = F.conv2d(F.pad(x, (radius,) * 4, value=1.0), k) >= full - 0.5
    dilated = F.conv2d(F.pad(eroded.to(torch.float32), (radius,) * 4, value=0.0), k) > 0.5
    return dilated[0, 0]


class _Pinned:
    """Reused page-locked host buffers: a pageable copy of a 5-MP map took 15 ms on the H200's host."""

    def __init__(self) -> None:
        self._bufs: dict[str, torch.Tensor] = {}

    def get(self, name: str, shape: tuple[int, ...], dtype: torch.dtype, pin: bool) -> torch.Tensor:
        buf = self._bufs.get(name)
        if buf is None or tuple(buf.shape) != tuple(shape) or buf.dtype != dtype:
            buf = self._bufs[name] = torch.empty(shape, dtype=dtype, pin_memory=pin)
        return buf


class DevicePostprocessor:
    """Raw map on a device → PostprocessOutput. One per inference thread (it reuses host buffers)."""

    def __init__(self) -> None:
        self._pinned = _Pinned()
        self._roi_key: tuple | None = None
        self._roi_t: torch.Tensor | None = None

    def _roi(
        self, settings: PostprocessSettings, shape: tuple[int, int], dev: torch.device
    ) -> torch.Tensor | None:
        key = (settings.roi, shape, str(dev))
        if key != self._roi_key:
            m = settings.roi.mask(shape)
            self._roi_t = None if m is None else torch.from_numpy(m.copy()).to(dev)  # cached: read-only
            self._roi_key = key
        return self._roi_t

    def _down(self, name: str, t: torch.Tensor) -> torch.Tensor:
        """Start copying `t` into a reused host buffer (asynchronous on CUDA); read it after a sync."""
        buf = self._pinned.get(name, tuple(t.shape), t.dtype, t.device.type == "cuda")
        buf.copy_(t, non_blocking=t.device.type == "cuda")
        return buf

    @torch.inference_mode()
    def run(
        self, raw: torch.Tensor, raw_score: float, norm: Normalization, settings: PostprocessSettings
    ) -> PostprocessOutput:
        """Post-process an (H, W) raw map that lives on its device; see `postprocess_map`."""
        dev = raw.device
        h, w = raw.shape
        amap = norm.map_unclipped(raw.float()).clamp_(0.0, 1.0)
        amap = gaussian_blur(amap, settings.smoothing_sigma)
        roi = self._roi(settings, (h, w), dev)
        score = float(norm.score(raw_score))
        if roi is not None:
            amap = torch.where(roi, amap, torch.zeros((), device=dev))
            if bool(roi.any()):
                inside = float(torch.where(roi, raw, torch.tensor(-math.inf, device=dev)).max())
                score = float(norm.score(scale_roi_score(raw_score, inside, float(raw.max()))))
            else:
                score = 0.0
        mask = amap >= settings.pixel_threshold
        if roi is not None:
            mask &= roi
        mask = open_mask(mask, settings.morphology_radius)
        map_host = self._down("map", amap)
        m8 = self._down("mask", mask.view(torch.uint8))
        if dev.type == "cuda":
            torch.cuda.current_stream(dev).synchronize()
        anomaly_map = map_host.numpy().copy()  # callers keep maps: never hand out the reused buffer
        out_mask, defects = np.zeros((h, w), bool), []
        if bool(mask.any()):
            stats, labels = self._regions(amap, m8.numpy(), dev)
            keep = stats.area >= max(settings.min_defect_area, 1)
            if keep.all():
                out_mask = m8.numpy().view(bool).copy()
            elif keep.any():
                out_mask = torch.from_numpy(np.r_[False, keep]).to(dev)[labels.long()].cpu().numpy()
            defects = stats.defects(keep, settings.pixel_size_mm)
        ng = is_ng(score, defects, settings, roi is not None)
        return PostprocessOutput(anomaly_map, out_mask, defects, score, Verdict.NG if ng else Verdict.OK)

    def _regions(
        self, amap: torch.Tensor, m8: np.ndarray, dev: torch.device
    ) -> tuple[RegionStats, torch.Tensor]:
        """Label the mask on the host, then every region's statistics in one pass on the device;
        returns them and the labels on the device (0 = background)."""
        h, w = m8.shape
        labels = self._pinned.get("labels", (h, w), torch.int32, dev.type == "cuda")
        n, _ = cv2.connectedComponents(m8, labels=labels.numpy(), connectivity=8, ltype=cv2.CV_32S)
        lab_t = labels.to(dev, non_blocking=True) if dev.type == "cuda" else labels
        flat = lab_t.view(-1)
        idx = torch.nonzero(flat, as_tuple=True)[0]
        lab = flat[idx].long() - 1
        ys, xs = idx // w, idx % w
        vals = amap.reshape(-1)[idx].double()
        k = n - 1

        def reduce(src: torch.Tensor, how: str, init: float) -> torch.Tensor:
            out = torch.full((k,), init, dtype=src.dtype, device=dev)
            return out.scatter_reduce_(0, lab, src, how, include_self=False)

        area = torch.bincount(lab, minlength=k).double()
        table = (
            torch.stack(
                [
                    area,
                    reduce(xs, "amin", 0).double(),
                    reduce(ys, "amin", 0).double(),
                    reduce(xs, "amax", 0).double() + 1,
                    reduce(ys, "amax", 0).double() + 1,
                    torch.bincount(lab, weights=xs.double(), minlength=k) / area,
                    torch.bincount(lab, weights=ys.double(), minlength=k) / area,
                    reduce(vals, "amax", 0.0),
                    torch.bincount(lab, weights=vals, minlength=k) / area,
                ]
            )
            .cpu()
            .numpy()
        )
        area_i = table[0].astype(np.int64)
        x0, y0, x1, y1 = (table[i].astype(np.int64) for i in range(1, 5))
        return RegionStats(area_i, x0, y0, x1, y1, table[5], table[6], table[7], table[8]), lab_t
