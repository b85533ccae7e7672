"""BFDF's network parts: coordinate attention, a PANet bidirectional pyramid, the mask decoder, the head."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from inspection_core.models.backbones import LITE0_CHANNELS


def conv_bn_relu(cin: int, cout: int, k: int = 3, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


class CoordAttention(nn.Module):
    """Coordinate attention (Hou et al., CVPR 2021): channel attention factorised along H and W.

    Pooling each row and each column separately keeps *where* a difference is, which plain
    squeeze-excitation loses; the two attention maps re-weight the features per row and per column.
    """

    def __init__(self, channels: int, reduction: int = 8) -> None:
        super().__init__()
        mid = max(8, channels // reduction)
        self.squeeze = nn.Sequential(
            nn.Conv2d(channels, mid, 1, bias=False), nn.BatchNorm2d(mid), nn.Hardswish(inplace=True)
        )
        self.attn_h = nn.Conv2d(mid, channels, 1)
        self.attn_w = nn.Conv2d(mid, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, _, h, w = x.shape
        xh = x.mean(dim=3, keepdim=True)  # (N, C, H, 1)
        xw = x.mean(dim=2, keepdim=True).transpose(2, 3)  # (N, C, W, 1)
        y = self.squeeze(torch.cat([xh, xw], dim=2))
        yh, yw = torch.split(y, [h, w], dim=2)
        a_h = torch.sigmoid(self.attn_h(yh))
        a_w = torch.sigmoid(self.attn_w(yw.transpose(2, 3)))
        return x * a_h * a_w


class PANet(nn.Module):
    """PANet-style bidirectional pyramid over levels whose strides double (finest first).

    Top-down (FPN) carries context to the fine levels, the bottom-up path carries precise
    localisation back up; every output level has `channels` channels at its input's resolution.
    """

    def __init__(self, channels: int, levels: int) -> None:
        super().__init__()
        if levels < 2:
            raise ValueError("PANet needs at least two levels")
        self.levels = levels
        self.td = nn.ModuleList([conv_bn_relu(channels, channels) for _ in range(levels - 1)])
        self.down = nn.ModuleList([conv_bn_relu(channels, channels, 3, 2) for _ in range(levels - 1)])
        self.bu = nn.ModuleList([conv_bn_relu(channels, channels) for _ in range(levels - 1)])

    def forward(self, feats: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        if len(feats) != self.levels:
            raise ValueError(f"PANet built for {self.levels} levels, got {len(feats)}")
        p = list(feats)
        for i in range(self.levels - 2, -1, -1):  # top-down
            up = F.interpolate(p[i + 1], size=p[i].shape[-2:], mode="bilinear", align_corners=False)
            p[i] = self.td[i](p[i] + up)
        n = [p[0]]
        for i in range(1, self.levels):  # bottom-up
            down = self.down[i - 1](n[-1])
            if down.shape[-2:] != p[i].shape[-2:]:
                down = F.interpolate(down, size=p[i].shape[-2:], mode="bilinear", align_corners=False)
            n.append(self.bu[i - 1](p[i] + down))
        return n


class DifferenceFusion(nn.Module):
    """Squared feature differences of the two branches per scale → 1×1 projection → CA → PANet."""

    def __init__(self, in_channels: Sequence[int], channels: int) -> None:
        super().__init__()
        self.proj = nn.ModuleList([conv_bn_relu(c, channels, 1) for c in in_channels])
        self.ca = nn.ModuleList([CoordAttention(channels) for _ in in_channels])
        self.pan = PANet(channels, len(in_channels))

    def forward(self, neg: Sequence[torch.Tensor], pos: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        diffs = [(a - b).pow(2) for a, b in zip(neg, pos, strict=True)]  # "matched by mean-squared error"
        return self.pan([ca(p(d)) for d, p, ca in zip(diffs, self.proj, self.ca, strict=True)])


class MaskDecoder(nn.Module):
    """Fused pyramid + the encoder's low- and high-level features of the inspected image → mask logits."""

    def __init__(self, channels: int, levels: int, low_channels: int, high_channels: int) -> None:
        super().__init__()
        half = max(8, channels // 2)
        quarter = max(8, channels // 4)
        self.merge = conv_bn_relu(channels * levels, channels)
        self.low = conv_bn_relu(low_channels, quarter, 1)
        self.high = conv_bn_relu(high_channels, quarter, 1)
        self.refine = nn.Sequential(conv_bn_relu(channels + 2 * quarter, half), conv_bn_relu(half, half))
        self.out = nn.Conv2d(half, 1, 1)

    def forward(self, fused: Sequence[torch.Tensor], low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
        size = fused[0].shape[-2:]
        x = torch.cat(
            [
                f
                if f.shape[-2:] == size
                else F.interpolate(f, size=size, mode="bilinear", align_corners=False)
                for f in fused
            ],
            dim=1,
        )
        x = self.merge(x)
        lsize = low.shape[-2:]
        x = F.interpolate(x, size=lsize, mode="bilinear", align_corners=False)
        h = F.interpolate(self.high(high), size=lsize, mode="bilinear", align_corners=False)
        x = self.refine(torch.cat([x, self.low(low), h], dim=1))
        return self.out(x)


class BFDFHead(nn.Module):
    """Everything after the shared encoder: difference fusion (CA + PANet) and the mask decoder."""

    def __init__(self, blocks: tuple[int, ...], channels: int) -> None:
        super().__init__()
        chans = [LITE0_CHANNELS[b] for b in blocks]
        self.fusion = DifferenceFusion(chans[1:], channels)
        self.decoder = MaskDecoder(channels, len(chans) - 1, chans[0], chans[-1])

    def forward(self, neg: list[torch.Tensor], pos: list[torch.Tensor]) -> torch.Tensor:
        fused = self.fusion(neg[1:], pos[1:])
        return self.decoder(fused, neg[0], neg[-1])
