"""SCL-VI's network parts: the 32×32 patch encoder (supplementary Table 5), the hierarchical head that turns
2×2 main embeddings into a 64×64-patch embedding (Table 6), and the relative-position classifier."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

PATCH = 32  # the main encoder's patch size; the hierarchical head sees 2×2 of them (64 px)
# Table 5 channel widths; GroupNorm uses groups of 8 channels as in the authors' code.
BASE_WIDTHS = (96, 256, 384, 384, 256, 128)


def _gn(c: int) -> nn.GroupNorm:
    return nn.GroupNorm(max(1, c // 8), c)


def scaled_widths(width: float) -> tuple[int, ...]:
    """Channel widths for a width multiplier, kept multiples of 8 so GroupNorm groups stay whole."""
    return tuple(max(8, int(round(c * width / 8)) * 8) for c in BASE_WIDTHS)


class PatchEncoder(nn.Module):
    """32×32 patch → (D, 1, 1) embedding in [-1, 1] (AlexNet-like, GroupNorm after each conv).

    Spatial sizes: 32 →conv5→ 28 →pool→ 14 →conv5(p2)→ 14 →pool→ 6 →3×conv3(p1)→ 6 →pool→ 3
    →conv2→ 2 →conv2→ 1. The encoder works patch by patch (its padding makes it not translation
    equivariant), so dense maps are scanned as batches of patches.
    """

    def __init__(self, embed_dim: int = 64, width: float = 1.0) -> None:
        super().__init__()
        c1, c2, c3, c4, c5, c6 = scaled_widths(width)
        self.embed_dim = embed_dim
        self.net = nn.Sequential(
            nn.Conv2d(3, c1, 5), _gn(c1), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1),
            nn.Conv2d(c1, c2, 5, padding=2), _gn(c2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 0),
            nn.Conv2d(c2, c3, 3, padding=1), _gn(c3), nn.ReLU(inplace=True),
            nn.Conv2d(c3, c4, 3, padding=1), _gn(c4), nn.ReLU(inplace=True),
            nn.Conv2d(c4, c5, 3, padding=1), _gn(c5), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1),
            nn.Conv2d(c5, c6, 2), _gn(c6),
            nn.Conv2d(c6, embed_dim, 2), _gn(embed_dim),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, 32, 32) → (B, D)."""
        if x.shape[-2:] != (PATCH, PATCH):
            raise ValueError(f"PatchEncoder takes {PATCH}x{PATCH} patches, got {tuple(x.shape[-2:])}")
        return torch.tanh(self.net(x)).flatten(1)


class HierHead(nn.Module):
    """2×2 grid of main embeddings → embedding of the 64×64 patch they tile (Patch SVDD's hierarchy)."""

    def __init__(self, embed_dim: int = 64, hidden: int = 128) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(embed_dim, hidden, 2)
        self.conv2 = nn.Conv2d(hidden, embed_dim, 1)

    def forward(self, grid: torch.Tensor, dilation: int = 1) -> torch.Tensor:
        """(B, D, h, w) embedding grid → (B, D, h - dilation, w - dilation).

        With dilation 1 and a 2×2 grid this is the paper's head; on a dense grid of main embeddings
        at stride s, dilation 32/s gives every 64-px patch's embedding in one convolution.
        """
        h = F.conv2d(grid, self.conv1.weight, self.conv1.bias, dilation=dilation)
        h = F.leaky_relu(h, 0.1)
        return torch.tanh(self.conv2(h))


def forward_hier(patches64: torch.Tensor, encoder: PatchEncoder, head: HierHead) -> torch.Tensor:
    """(B, 3, 64, 64) → (B, D): encode the four 32×32 quadrants, assemble 2×2, apply the head."""
    b = patches64.shape[0]
    q = patches64.unfold(2, PATCH, PATCH).unfold(3, PATCH, PATCH)  # (B, 3, 2, 2, 32, 32)
    q = q.permute(0, 2, 3, 1, 4, 5).reshape(b * 4, 3, PATCH, PATCH)
    e = encoder(q).view(b, 2, 2, -1).permute(0, 3, 1, 2)  # (B, D, 2, 2)
    return head(e).flatten(1)


class PositionClassifier(nn.Module):
    """Relative position (12 classes) of two patches from the difference of their embeddings."""

    def __init__(self, embed_dim: int = 64, hidden: int = 128, classes: int = 12) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(embed_dim, hidden), nn.LeakyReLU(0.1),
            nn.Linear(hidden, hidden), nn.LeakyReLU(0.1),
            nn.Linear(hidden, classes),
        )  # fmt: skip

    def forward(self, h1: torch.Tensor, h2: torch.Tensor) -> torch.Tensor:
        return self.net(h1 - h2)
