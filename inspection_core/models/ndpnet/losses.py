"""NDP-Net's losses: defect perception (eq. 2), feature repair (eq. 9), focal segmentation, perceptual."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from inspection_core.models.backbones import EfficientNetLite0Features

PERCEPTUAL_BLOCKS = (2, 4, 10)  # EfficientNet-Lite0 outputs at stride 4, 8, 16 (stand-in for VGG-16)


def resize_mask(mask: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Area-averaged mask at a feature resolution (soft values at defect borders)."""
    return mask if mask.shape[-2:] == size else F.interpolate(mask, size=size, mode="area")


def defect_perception_loss(
    feats_good: Sequence[torch.Tensor], feats_bad: Sequence[torch.Tensor], mask: torch.Tensor
) -> torch.Tensor:
    """Eq. 2: per layer, channel-mean squared feature difference, normalised by its per-image max,
    regressed (MSE) onto the resized defect mask; averaged over the layers."""
    losses = []
    for fg, fb in zip(feats_good, feats_bad, strict=True):
        d = (fg.float() - fb.float()).pow(2).mean(1, keepdim=True)
        d = d / (d.flatten(1).amax(1).view(-1, 1, 1, 1) + 1e-6)
        losses.append(F.mse_loss(d, resize_mask(mask, (d.shape[-2], d.shape[-1]))))
    return torch.stack(losses).mean()


def repair_loss(repaired: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Eq. 9, MSE between repaired and good features, divided by the good features' mean square so the
    term keeps its weight whatever the feature scale (deep-layer activations can be tiny or large)."""
    target = target.float()
    return F.mse_loss(repaired.float(), target) / (target.pow(2).mean() + 1e-6)


def focal_loss(logits: torch.Tensor, target: torch.Tensor, gamma: float = 2.0) -> torch.Tensor:
    """Binary focal loss (Lin et al.) with soft targets: BCE down-weighted on easy pixels."""
    logits = logits.float()
    ce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    p = torch.sigmoid(logits)
    p_t = p * target + (1 - p) * (1 - target)
    return (ce * (1 - p_t).pow(gamma)).mean()


def segmentation_loss(logits: Sequence[torch.Tensor], mask: torch.Tensor, gamma: float) -> torch.Tensor:
    """Focal loss of each DSM head against the mask at its resolution, averaged."""
    return torch.stack(
        [focal_loss(lg, resize_mask(mask, (lg.shape[-2], lg.shape[-1])), gamma) for lg in logits]
    ).mean()


class PerceptualLoss(nn.Module):
    """Distance between frozen pretrained features of two images (the paper uses VGG-16; we ship Lite0).

    Features are unit-normalised along channels first (as LPIPS does): raw Lite0 activations are in
    the hundreds and would drown the 100·MSE term at the paper's weight of 1.
    """

    def __init__(self) -> None:
        super().__init__()
        self.net = EfficientNetLite0Features(PERCEPTUAL_BLOCKS)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        feats = [F.normalize(f.float(), dim=1) for f in self.net(torch.cat([x, y]))]
        n = len(x)
        return torch.stack([(f[:n] - f[n:]).pow(2).sum(1).mean() for f in feats]).sum()
