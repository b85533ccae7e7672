"""SIDN's network parts (pure torch): FEM encoder, FSEM branches, GSRM relation module, heads, map filter."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

STRIDE = 16  # total downsampling of the FSEM features; inputs are padded to a multiple of it
LUMA = (0.299, 0.587, 0.114)


def _bn_act(c: int) -> nn.Sequential:
    return nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(inplace=True))


class ResBlock(nn.Module):
    """Basic 3×3 residual block (He et al.) with a ResNet-D shortcut (2×2 average pool, then 1×1 conv)
    when the shape changes. Besides keeping all pixels, this avoids a strided 1×1 convolution, whose
    channels-last backward pass crashes (segfault) in torch 2.13 on CPU."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.short: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            pool: nn.Module = nn.AvgPool2d(stride, ceil_mode=True) if stride > 1 else nn.Identity()
            self.short = nn.Sequential(pool, nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)), inplace=True)
        y = self.bn2(self.conv2(y))
        return F.relu(y + self.short(x), inplace=True)


class FEM(nn.Module):
    """Feature extraction: conv + residual block (C), then residual blocks stride 2 and 1 (2C) → H/2."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, c, 3, 1, 1, bias=False), _bn_act(c))
        self.blocks = nn.Sequential(ResBlock(c, c), ResBlock(c, 2 * c, 2), ResBlock(2 * c, 2 * c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.stem(x))


class FSEMBranch(nn.Module):
    """One FSEM branch: 2C at H/2 → 16C at H/16, ending in a linear 1×1 so features are signed
    (orthogonality and clustering need features that are not confined to the positive orthant)."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.blocks = nn.Sequential(
            ResBlock(2 * c, 4 * c, 2), ResBlock(4 * c, 8 * c, 2), ResBlock(8 * c, 16 * c, 2)
        )
        self.proj = nn.Conv2d(16 * c, 16 * c, 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.proj(self.blocks(z))


class GSRM(nn.Module):
    """Global semantic relation: Z' = V + reshape(softmax(K'Cᵀ/√D)·C) against the K cluster centres.

    Relating every position to K centres costs O(N·K) instead of self-attention's O(N²).
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.key = nn.Conv2d(dim, dim, 1)
        self.value = nn.Conv2d(dim, dim, 1)
        self.scale = 1.0 / math.sqrt(dim)

    def forward(self, z: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
        n, d, h, w = z.shape
        k = self.key(z).flatten(2).transpose(1, 2)  # (N, hw, D)
        c = centres.to(k.dtype)
        m = torch.softmax((k @ c.T) * self.scale, dim=-1)  # (N, hw, K)
        rel = (m @ c).transpose(1, 2).reshape(n, d, h, w)
        return self.value(z) + rel


class SegHead(nn.Module):
    """SM: four stride-2 deconvolution blocks (16C → C) and a last deconvolution to one logit map."""

    def __init__(self, c: int) -> None:
        super().__init__()
        chans = [16 * c, 8 * c, 4 * c, 2 * c, c]
        layers: list[nn.Module] = []
        for cin, cout in zip(chans[:-1], chans[1:], strict=True):
            layers += [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), _bn_act(cout)]
        layers.append(nn.ConvTranspose2d(c, 1, 3, 1, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


def to_gray(x: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) RGB in [0, 1] → (N, 1, H, W) luma; one-channel input passes through."""
    if x.shape[1] == 1:
        return x
    # Python-scalar weights: no host→device copy, so predict can be captured as a CUDA graph
    return LUMA[0] * x[:, 0:1] + LUMA[1] * x[:, 1:2] + LUMA[2] * x[:, 2:3]
