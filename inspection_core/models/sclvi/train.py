"""SCL-VI training recipe: the 3×3 context (jigsaw) pretext task plus the Patch SVDD loss.

Batches are sampled on the device straight from the image tensor (no DataLoader, no synthesis):
  * context: a 3×3 grid of K×K patches (grid step 3K/4, each patch jittered by up to K/4 px and
    grey-shifted), two of the nine cells are picked and a classifier predicts which of the 12
    relative positions (the 36 unordered cell pairs collapse to 12 displacement vectors) they have;
  * SVDD: a patch and a copy a few pixels off must embed close together (L_pSVDD = mean ‖E(p)−E(p′)‖).
L = CE_64 + CE_32 + α (L_pSVDD,64 + L_pSVDD,32), for the hierarchical (64) and main (32) encoders.
`fit(model, images, ctx)` is the entry point (SCLVI.fit calls it).
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from inspection_core.models.sclvi.layers import PATCH, PositionClassifier
from inspection_core.runtime.context import FitContext

if TYPE_CHECKING:
    from inspection_core.models.sclvi.model import SCLVI

# The 12 relations: displacement (d_row, d_col) from the earlier to the later cell (raster order).
RELATIONS: tuple[tuple[int, int], ...] = tuple(
    (dr, dc) for dr in range(3) for dc in range(-2, 3) if dr > 0 or (dr == 0 and dc > 0)
)


def relation_label(a: int, b: int) -> int:
    """Class (0-11) of the unordered pair of grid cells a, b (0-8, raster order, a ≠ b)."""
    if not (0 <= a < 9 and 0 <= b < 9) or a == b:
        raise ValueError(f"cells must be two different indices in 0..8, got {a}, {b}")
    a, b = min(a, b), max(a, b)
    return RELATIONS.index((b // 3 - a // 3, b % 3 - a % 3))


def pair_table() -> torch.Tensor:
    """(36, 3) long tensor of (first cell, second cell, relation class) for every unordered pair."""
    rows = [(a, b, relation_label(a, b)) for a in range(9) for b in range(a + 1, 9)]
    return torch.tensor(rows, dtype=torch.long)


def crop(images: torch.Tensor, idx: torch.Tensor, ys: torch.Tensor, xs: torch.Tensor, k: int) -> torch.Tensor:
    """(B, C, k, k) patches images[idx[i], :, ys[i]:ys[i]+k, xs[i]:xs[i]+k], gathered on the device."""
    ar = torch.arange(k, device=images.device)
    rows = (ys[:, None] + ar)[:, :, None]
    cols = (xs[:, None] + ar)[:, None, :]
    out = images[idx[:, None, None], :, rows, cols]  # (B, k, k, C)
    return out.permute(0, 3, 1, 2)


@dataclass
class PretextBatch:
    ctx1: torch.Tensor  # (B, 3, K, K) first context patch
    ctx2: torch.Tensor  # second context patch
    label: torch.Tensor  # (B,) relation class
    svdd1: torch.Tensor  # (B, 3, K, K) patch
    svdd2: torch.Tensor  # the same patch a few pixels off


def sample_pretext(
    images: torch.Tensor,
    batch: int,
    k: int,
    gen: torch.Generator,
    jitter_frac: float = 0.25,
    grey_shift: float = 0.05,
    noise_std: float = 0.02,
) -> PretextBatch:
    """Sample one batch of both pretext tasks at patch size k from (N, 3, H, W) images.

    `gen` must live on the images' device: every random number is drawn there, so a CUDA training
    step never waits on a host-to-device copy.
    """
    n, _, h, w = images.shape
    if h < k or w < k:
        raise ValueError(f"images of {h}x{w} px are smaller than the {k}px patch")
    dev = images.device

    def rand(lo: int, hi: int) -> torch.Tensor:  # integers in [lo, hi)
        return torch.randint(lo, hi, (batch,), generator=gen, device=dev)

    pairs = pair_table().to(dev)[rand(0, 36)]
    idx = rand(0, n)
    step, jit = 3 * k // 4, max(1, int(round(k * jitter_frac)))

    def centre(size: int) -> torch.Tensor:
        lo, hi = step + jit // 2, size - k - step - jit // 2
        if hi < lo:  # image too small for the whole grid: cells get clipped at the border
            return torch.full((batch,), (size - k) // 2, device=dev)
        return rand(lo, hi + 1)

    cy, cx = centre(h), centre(w)
    patches = []
    for col in (0, 1):
        cell = pairs[:, col]
        ys = cy + (cell // 3 - 1) * step + rand(0, jit) - jit // 2
        xs = cx + (cell % 3 - 1) * step + rand(0, jit) - jit // 2
        p = crop(images, idx, ys.clamp(0, h - k), xs.clamp(0, w - k), k)
        shift = torch.randn(batch, 1, 1, 1, generator=gen, device=dev) * grey_shift  # against shortcuts
        noise = torch.randn(p.shape, generator=gen, device=dev) * noise_std
        patches.append(p + shift + noise)

    j = max(1, k // 32)
    sy, sx = rand(0, h - k + 1), rand(0, w - k + 1)
    dy, dx = rand(-j, j + 1), rand(-j, j + 1)
    dx = torch.where((dy == 0) & (dx == 0), torch.ones_like(dx), dx)  # never the very same patch
    s1 = crop(images, idx, sy, sx, k)
    s2 = crop(images, idx, (sy + dy).clamp(0, h - k), (sx + dx).clamp(0, w - k), k)
    return PretextBatch(patches[0], patches[1], pairs[:, 2], s1, s2)


class PretextHeads(nn.Module):
    """Relative-position classifiers for the two scales; discarded after training."""

    def __init__(self, embed_dim: int) -> None:
        super().__init__()
        self.cls64 = PositionClassifier(embed_dim)
        self.cls32 = PositionClassifier(embed_dim)


def pretext_losses(
    model: SCLVI, heads: PretextHeads, b64: PretextBatch, b32: PretextBatch, alpha: float
) -> dict[str, torch.Tensor]:
    """All four losses; every 32×32 patch goes through the main encoder in one batched call."""
    n64, n32 = b64.ctx1.shape[0], b32.ctx1.shape[0]
    big = torch.cat([b64.ctx1, b64.ctx2, b64.svdd1, b64.svdd2])
    small = torch.cat([b32.ctx1, b32.ctx2, b32.svdd1, b32.svdd2])
    q = big.unfold(2, PATCH, PATCH).unfold(3, PATCH, PATCH)  # quadrants of the 64-px patches
    q = q.permute(0, 2, 3, 1, 4, 5).reshape(-1, 3, PATCH, PATCH)
    emb = model.encoder(torch.cat([q, small]))
    e_big = emb[: q.shape[0]].view(4 * n64, 2, 2, -1).permute(0, 3, 1, 2)
    h64 = model.head(e_big).flatten(1).float().split(n64)
    h32 = emb[q.shape[0] :].float().split(n32)
    ce64 = F.cross_entropy(heads.cls64(h64[0], h64[1]), b64.label)
    ce32 = F.cross_entropy(heads.cls32(h32[0], h32[1]), b32.label)
    sv64 = (h64[2] - h64[3]).norm(dim=1).mean()
    sv32 = (h32[2] - h32[3]).norm(dim=1).mean()
    total = ce64 + ce32 + alpha * (sv64 + sv32)
    return {"total": total, "ce64": ce64, "ce32": ce32, "svdd64": sv64, "svdd32": sv32}


@dataclass
class TrainLog:
    losses: list[float]  # total loss at each reported step
    steps: int  # optimiser steps done (fewer than planned when the time limit hit)
    seconds: float


def train_encoder(model: SCLVI, images: torch.Tensor, ctx: FitContext) -> TrainLog:
    """Optimise the encoders on the pretext tasks.

    `images` are already standardised and on ctx.device. Honours cancel at every step; reports progress
    after the first step, then every 10 steps or every second, whichever comes first; stops early at
    `max_seconds`.
    """
    cfg = model.config
    dev = ctx.device
    heads = PretextHeads(cfg.embed_dim).to(dev)
    params = [*model.encoder.parameters(), *model.head.parameters(), *heads.parameters()]
    opt = torch.optim.Adam(params, lr=cfg.lr)
    gen = torch.Generator(device=dev).manual_seed(ctx.seed)
    use_amp = cfg.amp and dev.type == "cuda"
    total = cfg.epochs * cfg.steps_per_epoch
    model.train()
    heads.train()
    history: list[float] = []
    t0 = last = time.perf_counter()
    step = 0
    for step in range(1, total + 1):
        ctx.cancel.check()  # reports come every 10 steps; a cancel should not wait for one
        aug = (cfg.jitter_frac, cfg.grey_shift, cfg.noise_std)
        b64 = sample_pretext(images, cfg.batch_size, 2 * PATCH, gen, *aug)
        b32 = sample_pretext(images, cfg.batch_size, PATCH, gen, *aug)
        amp = torch.autocast("cuda", dtype=torch.bfloat16) if use_amp else contextlib.nullcontext()
        with amp:
            losses = pretext_losses(model, heads, b64, b32, cfg.alpha)
        opt.zero_grad(set_to_none=True)
        losses["total"].backward()
        opt.step()
        now = time.perf_counter()
        out_of_time = (cfg.max_seconds > 0 and now - t0 >= cfg.max_seconds) or ctx.should_pause()
        if step == 1 or step % 10 == 0 or step == total or now - last >= 1.0 or out_of_time:
            last = now
            vals = {k: float(v.detach()) for k, v in losses.items()}
            history.append(vals["total"])
            epoch = (step - 1) // cfg.steps_per_epoch + 1
            ctx.report(
                "train", step, total, f"epoch {epoch}/{cfg.epochs}", loss=vals["total"],
                ce64=vals["ce64"], ce32=vals["ce32"], svdd64=vals["svdd64"], svdd32=vals["svdd32"],
            )  # fmt: skip
        if out_of_time:
            break
    model.eval()
    return TrainLog(history, step, time.perf_counter() - t0)


def fit(model: SCLVI, images: torch.Tensor, ctx: FitContext) -> None:
    """SCLVI.fit: the training set's mean colour, the pretext training, then the memory of normal patches."""
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"expected (N, 3, H, W) images, got {tuple(images.shape)}")
    model.to(ctx.device)
    model.pixel_mean = images.mean((0, 2, 3)).to(ctx.device)
    data = model.standardize(images.to(ctx.device))
    log = train_encoder(model, data, ctx)
    del data
    model.train_info = {"train_steps": log.steps, "train_seconds": round(log.seconds, 2)}
    model.eval()
    model.build_memory(images, ctx)
