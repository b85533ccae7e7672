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
    r = _blur_radius(sigma, tuple(int(s) for s in x.shape[-2:]))
    if r < 1:
        return x
    t = torch.arange(-r, r + 1, device=x.device, dtype=x.dtype)
    k = torch.exp(-(t * t) / (2 * sigma * sigma))
    k = k / k.sum()
    x = F.pad(x, (r, r, r, r), mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, -1))
    return F.conv2d(x, k.view(1, 1, -1, 1))


def _blur_radius(sigma: float, sides: tuple[int, int]) -> int:
    """gaussian_blur's kernel radius: 3σ, cut to the image (reflect padding must be smaller than it)."""
    return min(int(round(3 * float(sigma))), min(sides) - 1) if sigma > 0 else 0


def _resize_blur_matrix(n_in: int, n_out: int, sigma: float, r: int) -> torch.Tensor:
    """(n_out, n_in) float64: 1-D linear resize (align_corners=False, as F.interpolate's bilinear along
    one axis), then gaussian_blur's reflect-padded kernel along the same axis, as one matrix."""
    eye = torch.eye(n_in, dtype=torch.float64).unsqueeze(0)  # (1, n_in signals, n_in samples)
    up = eye if n_out == n_in else F.interpolate(eye, size=n_out, mode="linear", align_corners=False)
    m = up[0].T.contiguous()  # (n_out, n_in): column j = the resize of the j-th unit signal
    if r < 1:
        return m
    t = torch.arange(-r, r + 1, dtype=torch.float64)
    k = torch.exp(-(t * t) / (2 * float(sigma) ** 2))
    k = k / k.sum()
    cols = F.pad(m.T.unsqueeze(1), (r, r), mode="reflect")  # (n_in, 1, n_out + 2r)
    return F.conv1d(cols, k.view(1, 1, -1))[:, 0].T.contiguous()


_RESIZE_BLUR: dict[tuple[int, int, int, int, float, str, torch.dtype], tuple[torch.Tensor, torch.Tensor]] = {}
# above this many output pixels the dense matrices cost more than the convolutions they replace
RESIZE_BLUR_MAX_PIXELS = 512 * 512


def resize_blur(x: torch.Tensor, size: tuple[int, int], sigma: float) -> torch.Tensor:
    """gaussian_blur(F.interpolate(x, size, bilinear)) of (N, 1, h, w) → (N, 1, H, W), the anomaly map
    of a patch grid. Both steps are linear and separable, so at model size they are two small matrix
    products, Mh · x · Mwᵀ, with the matrices built once per size (float rounding apart, the same map):
    on a 2-core CPU the resize and the 25-tap convolutions took ~2 ms of a 256² frame in ONNX Runtime,
    the products take a few hundredths. Large outputs (a whole frame) keep the convolutions."""
    h_out, w_out = (int(s) for s in size)
    h, w = (int(s) for s in x.shape[-2:])
    if h_out * w_out > RESIZE_BLUR_MAX_PIXELS:
        x = F.interpolate(x, size=(h_out, w_out), mode="bilinear", align_corners=False)
        return gaussian_blur(x, sigma)
    r = _blur_radius(sigma, (h_out, w_out))
    key = (h, w, h_out, w_out, float(sigma), str(x.device), x.dtype)
    if key not in _RESIZE_BLUR:
        mh = _resize_blur_matrix(h, h_out, sigma, r).to(x.device, x.dtype)
        mw = _resize_blur_matrix(w, w_out, sigma, r).T.contiguous().to(x.device, x.dtype)
        _RESIZE_BLUR[key] = (mh, mw)
    mh, mw = _RESIZE_BLUR[key]
    return torch.matmul(torch.matmul(mh, x), mw)


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
