"""Greedy k-center coreset selection that scales: random projection, on the device, in chunks."""

from __future__ import annotations

from collections.abc import Callable

import torch


@torch.no_grad()
def greedy_coreset(
    features: torch.Tensor,
    n_select: int,
    projection_dim: int = 128,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
    chunk: int = 1 << 20,
) -> torch.Tensor:
    """Indices of `n_select` rows chosen by greedy farthest-point sampling (PatchCore's coreset).

    Distances are computed in a Johnson-Lindenstrauss random projection to `projection_dim`, which
    keeps the selection close to the exact one at a fraction of the cost. Each step updates the
    min-distance vector in chunks so memory stays bounded for millions of patches.
    """
    n = features.shape[0]
    if n_select >= n:
        return torch.arange(n, device=features.device)
    g = torch.Generator(device="cpu").manual_seed(seed)
    d = features.shape[1]
    if projection_dim and projection_dim < d:
        proj = (
            torch.randn(d, projection_dim, generator=g).to(features.device, features.dtype)
            / projection_dim**0.5
        )
        z = features @ proj
    else:
        z = features
    z = z.float()
    sq = (z * z).sum(1)
    start = int(torch.randint(n, (1,), generator=g))
    selected = torch.empty(n_select, dtype=torch.long, device=features.device)
    min_d = torch.full((n,), float("inf"), device=features.device)
    buf = torch.empty(min(n, chunk), device=features.device)  # reused: no allocation per step
    idx = start
    report_every = max(1, n_select // 50)
    for k in range(n_select):
        selected[k] = idx
        c = z[idx]
        csq = sq[idx]
        for s in range(0, n, chunk):
            e = min(n, s + chunk)
            d = buf[: e - s]
            torch.mv(z[s:e], c, out=d)
            d.mul_(-2).add_(sq[s:e]).add_(csq)  # ‖z‖² - 2 z·c + ‖c‖²
            torch.minimum(min_d[s:e], d, out=min_d[s:e])
        idx = int(torch.argmax(min_d))
        if progress is not None and (k % report_every == 0 or k == n_select - 1):
            progress(k + 1, n_select)
    return selected
