"""BFDF's losses: weighted Focal + L1 + Dice on the mask logits."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def focal_loss(
    logits: torch.Tensor, target: torch.Tensor, gamma: float = 2.0, alpha: float = 0.25
) -> torch.Tensor:
    """Binary focal loss (Lin et al.) on logits, mean over pixels."""
    ce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    p = torch.sigmoid(logits)
    p_t = p * target + (1 - p) * (1 - target)
    a_t = alpha * target + (1 - alpha) * (1 - target)
    return (a_t * (1 - p_t).pow(gamma) * ce).mean()


def dice_loss(logits: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """Soft Dice over the whole batch (so batches with defect-free samples stay well defined)."""
    p = torch.sigmoid(logits)
    inter = (p * target).sum()
    return 1 - (2 * inter + eps) / (p.sum() + target.sum() + eps)


def l1_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (torch.sigmoid(logits) - target).abs().mean()


def bfdf_loss(
    logits: torch.Tensor, target: torch.Tensor, w_focal: float, w_l1: float, w_dice: float
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Weighted Focal + L1 + Dice (the paper's Table 1 weighting); terms with weight 0 are skipped.

    The parts come back as detached tensors so a training loop can log them without a device sync.
    """
    logits = logits.float()
    parts: dict[str, torch.Tensor] = {}
    if w_focal:
        parts["focal"] = w_focal * focal_loss(logits, target)
    if w_l1:
        parts["l1"] = w_l1 * l1_loss(logits, target)
    if w_dice:
        parts["dice"] = w_dice * dice_loss(logits, target)
    if not parts:
        raise ValueError("all loss weights are 0")
    total = torch.stack(list(parts.values())).sum()
    return total, {k: v.detach() for k, v in parts.items()}
