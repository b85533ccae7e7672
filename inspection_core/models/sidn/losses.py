"""SIDN's losses: pixel-weighted BCE (eq. 5), feature decomposition (eq. 8), multi-hypersphere
clustering (eqs. 11-17, DEC-style) and centre separation (eq. 18).

All take and return float32; call them outside autocast or cast first (distances in bf16 are too coarse).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def weighted_bce(logits: torch.Tensor, target: torch.Tensor, majority_weight: float = 0.1) -> torch.Tensor:
    """BCE where pixels of each image's majority class weigh `majority_weight` (λ1) and the rest 1.

    Defects cover a few percent of a synthetic image, so plain BCE would learn "never a defect".
    """
    target = target.float()
    frac = target.flatten(1).mean(1).view(-1, *([1] * (target.dim() - 1)))
    majority = (frac >= 0.5).float()  # 1 when the positive class is the majority of the image
    w = torch.where(target == majority, torch.full_like(target, majority_weight), torch.ones_like(target))
    loss = F.binary_cross_entropy_with_logits(logits.float(), target, reduction="none")
    return (w * loss).mean()


def decomposition_loss(zt: torch.Tensor, zd: torch.Tensor) -> torch.Tensor:
    """L_z (eq. 8): mean |cosine| of texture and defect features at each position.

    The paper states a dot product; unnormalised it is unbounded below, so we take the absolute value of
    the normalised dot product: 0 when the two branches are orthogonal, as the paper intends.
    """
    cos = F.cosine_similarity(zt.float(), zd.float(), dim=1, eps=1e-6)
    return cos.abs().mean()


def soft_assignment(
    z: torch.Tensor, centres: torch.Tensor, alpha: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Student-t soft assignment Q (M, K) of rows z (M, D) to centres (K, D), and distances (M, K).

    q_ik ∝ (1 + ||z_i - c_k||² / α)^(-(α+1)/2), rows sum to 1 (DEC, Xie et al. 2016; SIDN eqs. 11-12).
    """
    d2 = torch.cdist(z.float(), centres.float()).pow(2)
    q = (1.0 + d2 / alpha).pow(-(alpha + 1.0) / 2.0)
    q = q / q.sum(1, keepdim=True).clamp_min(1e-12)
    return q, d2.clamp_min(0).sqrt()


def target_distribution(q: torch.Tensor) -> torch.Tensor:
    """Sharpened target P: p_ik ∝ q_ik² / Σ_i q_ik (eq. 15), rows sum to 1; no gradient."""
    q = q.detach()
    w = q.pow(2) / q.sum(0, keepdim=True).clamp_min(1e-12)
    return w / w.sum(1, keepdim=True).clamp_min(1e-12)


def hypersphere_radii(dist: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """r_k = mean + 3σ of the distances of the rows hard-assigned to centre k (eq. 14), (K,).

    Vectorised (no per-cluster loop, no host sync). A centre with one member gets that member's
    distance; one without members gets +inf (every row counts as inside it).
    """
    k = q.shape[1]
    hard = q.argmax(1)
    d = dist.gather(1, hard[:, None])[:, 0].detach().float()
    zeros = torch.zeros(k, device=d.device)
    cnt = zeros.index_add(0, hard, torch.ones_like(d))
    mean = zeros.index_add(0, hard, d) / cnt.clamp_min(1)
    sq = zeros.index_add(0, hard, (d - mean[hard]) ** 2)
    std = (sq / (cnt - 1).clamp_min(1)).sqrt()
    r = mean + 3 * std
    return torch.where(cnt > 0, r, torch.full_like(r, float("inf")))


def clustering_loss(
    z: torch.Tensor, centres: torch.Tensor, alpha: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """KL(P‖Q) over the feature positions inside their centre's hypersphere (eqs. 13-17).

    z: (N, D, h, w) features; returns (loss, Q, radii). Positions beyond mean + 3σ of their cluster are
    outliers (in a texture branch: likely defect features) and are left out of the clustering pull.
    """
    rows = z.permute(0, 2, 3, 1).reshape(-1, z.shape[1])
    q, dist = soft_assignment(rows, centres, alpha)
    p = target_distribution(q)
    radii = hypersphere_radii(dist, q)
    hard = q.argmax(1)
    inside = dist.gather(1, hard[:, None])[:, 0] <= radii[hard]
    kl = (p * (p.clamp_min(1e-12).log() - q.clamp_min(1e-12).log())).sum(1)
    w = inside.float()  # never all zero: the row nearest each used centre is within mean + 3σ
    loss = (kl * w).sum() / w.sum().clamp_min(1.0)
    return loss, q, radii


def centre_separation_loss(ct: torch.Tensor, cd: torch.Tensor) -> torch.Tensor:
    """L_td (eq. 18): mean cosine similarity between every texture centre and every defect centre."""
    return (F.normalize(ct.float(), dim=1) @ F.normalize(cd.float(), dim=1).T).mean()
