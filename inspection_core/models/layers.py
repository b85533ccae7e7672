"""Building blocks that more than one model uses (a model's own parts live in its folder's layers.py)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (N, 1, H, W) on its device (reflect padding; the kernel is cut to the
    image, as reflect padding must be smaller than it)."""
    r = min(int(round(3 * sigma)), min(x.shape[-2:]) - 1)
    if sigma <= 0 or r < 1:
        return x
    t = torch.arange(-r, r + 1, device=x.device, dtype=x.dtype)
    k = torch.exp(-(t * t) / (2 * sigma * sigma))
    k = k / k.sum()
    x = F.pad(x, (r, r, r, r), mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, -1))
    return F.conv2d(x, k.view(1, 1, -1, 1))
