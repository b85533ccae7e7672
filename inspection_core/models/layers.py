"""Building blocks that more than one model uses (a model's own parts live in its folder's layers.py)."""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (N, 1, H, W) on its device (reflect padding; the kernel is cut to the
    image, as reflect padding must be smaller than it). Sigma and the sides are taken as Python numbers,
    so an ONNX trace, where they may be traced shape arithmetic, gets a constant kernel."""
    sigma = float(sigma)
    r = min(int(round(3 * sigma)), min(int(s) for s in x.shape[-2:]) - 1)
    if sigma <= 0 or r < 1:
        return x
    t = torch.arange(-r, r + 1, device=x.device, dtype=x.dtype)
    k = torch.exp(-(t * t) / (2 * sigma * sigma))
    k = k / k.sum()
    x = F.pad(x, (r, r, r, r), mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, -1))
    return F.conv2d(x, k.view(1, 1, -1, 1))


def median_filter(x: torch.Tensor, k: int, rows_per_chunk: int = 64) -> torch.Tensor:
    """k×k median of (N, C, H, W) float maps with replicated borders.

    On CPU, OpenCV's float median (k ≤ 5 only; it replicates borders too) is far faster than unfold +
    median; elsewhere the unfold runs in row chunks, so a large map is never copied k² times at once.
    A median of an odd count is one of the values, so both paths give the same map.
    """
    if k <= 1:
        return x
    n, c, h, w = x.shape
    if x.device.type == "cpu" and k <= 5:
        a = x.detach().float().reshape(n * c, h, w).numpy()
        out = np.stack([cv2.medianBlur(np.ascontiguousarray(m), k) for m in a])
        return torch.from_numpy(out).view(n, c, h, w)
    r = k // 2
    xp = F.pad(x, (r, r, r, r), mode="replicate")
    rows = []
    for s in range(0, h, rows_per_chunk):
        e = min(h, s + rows_per_chunk)
        win = xp[..., s : e + 2 * r, :].unfold(2, k, 1).unfold(3, k, 1)  # (N, C, rows, W, k, k)
        rows.append(win.reshape(*win.shape[:4], -1).median(dim=-1).values)
    return torch.cat(rows, 2)
