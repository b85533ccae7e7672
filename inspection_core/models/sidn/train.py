"""SIDN's training recipe: DGM batches synthesised on the fly, L = L_s + L_fd, Adam, progress/cancel.

DGM (I_n = (1 - I_m)·I_p + I_m·I_g) is the shared DefectSynthesizer with the configured fills and
blending (the paper's: Gaussian noise, no blending; the defaults: noise, shifted texture and other good
images blended ≤ 0.5). Numpy synthesis costs ~7 ms an image, so on a GPU worker processes prepare batches ahead of
the training step (threads were GIL-bound, see training.workers); on CPU it runs inline (the cores
are busy with the convolutions anyway).
"""

from __future__ import annotations

import itertools
import math
import os
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from inspection_core.data.synthesis import DefectSynthesizer, parse_fills
from inspection_core.errors import AoiError, DataError
from inspection_core.models.sidn.layers import LUMA, to_gray
from inspection_core.models.sidn.losses import (
    centre_separation_loss,
    clustering_loss,
    decomposition_loss,
    weighted_bce,
)
from inspection_core.runtime.context import FitContext
from inspection_core.runtime.workers import auto_workers, synthesis_loader

if TYPE_CHECKING:
    from inspection_core.models.sidn.model import SIDN, SIDNConfig

RADIUS_MOMENTUM = 0.9
LOG_EVERY_CUDA = 10


class SyntheticBatches:
    """Endless (image, mask) batches: random good images, random flips, a synthetic defect each.

    Batch b is made from its own RNG stream seeded by (seed, b), so the sequence is the same whether it
    is made inline or by any number of worker processes (see `stream`).
    """

    def __init__(self, gray: np.ndarray, cfg: SIDNConfig, seed: int) -> None:
        # (N, H, W) float32 in [0, 1], held as a tensor: it reaches worker processes as shared memory
        self._gray = torch.as_tensor(gray)
        self.cfg = cfg
        self.seed = seed
        self.fills = parse_fills(cfg.fills, "sidn")
        self.bs = min(cfg.batch_size, len(gray))
        rng = np.random.default_rng(seed)
        pick = rng.choice(len(gray), size=min(32, len(gray)), replace=False)
        self.pool = [np.repeat(gray[i][..., None], 3, axis=2) for i in pick]  # "foreign" fills
        self._synth: DefectSynthesizer | None = None
        self._pid = -1

    @property
    def gray(self) -> np.ndarray:
        return self._gray.numpy()

    def synth(self) -> DefectSynthesizer:
        """One synthesiser per process (a forked worker must not share its parent's)."""
        if self._synth is None or self._pid != os.getpid():
            self._synth = DefectSynthesizer(
                pool=self.pool, fills=self.fills, beta_range=(0.0, self.cfg.blend_max)
            )
            self._pid = os.getpid()
        return self._synth

    def make(self, b: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng([self.seed, b])
        idx = rng.choice(len(self.gray), size=self.bs, replace=False)
        imgs = self.gray[idx]
        if self.cfg.flip:
            imgs = np.stack([im[:: rng.choice((1, -1)), :: rng.choice((1, -1))] for im in imgs])
        synth = self.synth()
        synth.rng = rng  # this batch's stream (DefectSynthesizer draws everything from .rng)
        rgb = np.repeat(imgs[..., None], 3, axis=3)
        out, masks = synth.batch(rgb, p_anomaly=self.cfg.p_anomaly)
        # fills may be coloured: back to gray the way the model sees a colour camera
        x = torch.from_numpy(np.ascontiguousarray(out @ np.asarray(LUMA, np.float32)))[:, None]
        m = torch.from_numpy(np.ascontiguousarray(masks))[:, None]
        return x, m

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Batches 0, 1, 2, … made inline."""
        return (self.make(b) for b in itertools.count())


class _WorkerBatches(IterableDataset):
    """Worker w of W makes batches w, w + W, w + 2W, …; the DataLoader takes one batch from each worker
    in turn, so the stream is batch 0, 1, 2, … exactly as made inline."""

    def __init__(self, source: SyntheticBatches) -> None:
        super().__init__()
        self.source = source

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        info = get_worker_info()
        wid, n = (info.id, info.num_workers) if info is not None else (0, 1)
        return (self.source.make(b) for b in itertools.count(wid, n))


def stream(
    source: SyntheticBatches, workers: int, device: torch.device
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The batches, inline (workers 0) or from worker processes; close() stops the workers at once."""
    if workers <= 0:
        yield from source
        return
    it = iter(synthesis_loader(_WorkerBatches(source), workers, device))
    try:
        yield from it
    finally:
        del it  # shuts the worker processes down now (the iterator's own cleanup), also on cancel


@torch.no_grad()
def init_centres(model: SIDN, x: torch.Tensor, seed: int) -> None:
    """Centres start at random feature vectors of a first batch (DEC starts from k-means; a random
    pick of real features is the cheap equivalent and keeps the Student-t assignment informative)."""
    out = model(x)
    g = torch.Generator(device="cpu").manual_seed(seed)
    for z, centres in ((out["zt"], model.texture_centres), (out["zd"], model.defect_centres)):
        rows = z.float().permute(0, 2, 3, 1).reshape(-1, z.shape[1])
        idx = torch.randint(rows.shape[0], (centres.shape[0],), generator=g).to(rows.device)
        centres.copy_(rows[idx] + 0.01 * torch.randn(centres.shape, generator=g).to(rows.device))


def _update_radii(buf: torch.Tensor, radii: torch.Tensor, first: bool) -> None:
    r = torch.where(torch.isfinite(radii), radii, buf)
    buf.copy_(r if first else RADIUS_MOMENTUM * buf + (1 - RADIUS_MOMENTUM) * r)


def _train_loop(
    model: SIDN,
    cfg: SIDNConfig,
    ctx: FitContext,
    batches: Iterator[tuple[torch.Tensor, torch.Tensor]],
    total: int,
    steps_per_epoch: int,
    deadline: float,
) -> int:
    """Run the optimisation steps; returns how many were done."""
    device = ctx.device
    use_amp = cfg.amp and device.type == "cuda"
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, foreach=True)
    # reading a loss value waits for the GPU; on CUDA do it every few steps so the host can queue ahead
    log_every = LOG_EVERY_CUDA if device.type == "cuda" else 1
    step = 0
    for x, m in batches:
        x = x.to(device, non_blocking=True)
        m = m.to(device, non_blocking=True)
        if step == 0:
            init_centres(model, x, ctx.seed)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_amp):
            out = model(x)
        l_s = weighted_bce(out["logit_t"], 1 - m, cfg.majority_weight) + weighted_bce(
            out["logit_d"], m, cfg.majority_weight
        )
        l_z = decomposition_loss(out["zt"], out["zd"])
        kl_t, _, r_t = clustering_loss(out["zt"], model.texture_centres, cfg.alpha)
        kl_d, _, r_d = clustering_loss(out["zd"], model.defect_centres, cfg.alpha)
        l_td = centre_separation_loss(model.texture_centres, model.defect_centres)
        loss = l_s + cfg.weight_z * l_z + cfg.weight_kl * (kl_t + kl_d) + cfg.weight_td * l_td
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        _update_radii(model.texture_radii, r_t, step == 0)
        _update_radii(model.defect_radii, r_d, step == 0)
        step += 1
        done = step >= total or time.monotonic() >= deadline or ctx.should_pause()
        epoch = (step - 1) // steps_per_epoch + 1
        msg = f"epoch {epoch}/{cfg.epochs}"
        if step % log_every == 0 or step == 1 or done:
            parts = (("loss", loss), ("seg", l_s), ("z", l_z), ("kl", kl_t + kl_d), ("td", l_td))
            rec = {k: float(v.detach()) for k, v in parts}
            if not math.isfinite(rec["loss"]):
                raise AoiError(
                    f"sidn: training diverged at step {step} (loss {rec['loss']}); try a lower --lr"
                )
            model.history.append({"step": step, **rec})
            ctx.report("train", step, total, msg, loss=rec["loss"], seg=rec["seg"], kl=rec["kl"])
        else:
            ctx.report("train", step, total, msg)
        if done:
            break
    return step


def fit(model: SIDN, images: torch.Tensor, ctx: FitContext) -> None:
    """SIDN.fit: train end to end with L = L_s + λz·L_z + λkl·L_kl + λtd·L_td; leaves the model in eval mode."""
    cfg: SIDNConfig = model.config  # type: ignore[assignment]
    n = len(images)
    if n == 0:
        raise DataError("sidn: no good images to train on")
    if cfg.epochs < 1 or cfg.batch_size < 1:
        raise AoiError("sidn: epochs and batch_size must be ≥ 1")
    device = ctx.device
    model.to(device)
    gray = to_gray(images.float())[:, 0].numpy()
    source = SyntheticBatches(gray, cfg, ctx.seed)
    steps_per_epoch = math.ceil(n / source.bs)
    total = cfg.epochs * steps_per_epoch
    deadline = time.monotonic() + cfg.max_seconds if cfg.max_seconds > 0 else math.inf
    model.history = []
    model.train()
    t0 = time.perf_counter()
    ctx.report("train", 0, total, "preparing the first synthetic batch")
    batches = stream(source, auto_workers(cfg.workers, device), device)
    try:
        step = _train_loop(model, cfg, ctx, batches, total, steps_per_epoch, deadline)
    finally:
        batches.close()  # stops the synthesis workers now, also on cancel or error
    model.eval()
    model.train_info = {
        "steps": step,
        "planned_steps": total,
        "stopped_by_time_limit": step < total,
        "train_seconds": round(time.perf_counter() - t0, 2),
        "final_loss": round(float(np.mean([h["loss"] for h in model.history[-20:]])), 5),
    }
