"""NDP-Net's training recipe: artificial defects on the fly, the paper's losses, two phases.

Phase 1 trains encoder + decoder (100·MSE + perceptual + pixel-level defect perception); then the
reference image is chosen; phase 2 freezes the encoder and trains RBAM + decoder + MSDSM
(100·MSE + perceptual + feature repair + focal segmentation).
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset, RandomSampler, get_worker_info

from inspection_core.data.synthesis import DefectSynthesizer, parse_fills
from inspection_core.errors import DataError
from inspection_core.models.ndpnet.layers import RBAM_LAYERS
from inspection_core.models.ndpnet.losses import (
    PerceptualLoss,
    defect_perception_loss,
    repair_loss,
    segmentation_loss,
)
from inspection_core.runtime.context import FitContext
from inspection_core.runtime.workers import auto_workers, synthesis_loader

if TYPE_CHECKING:
    from inspection_core.models.ndpnet.model import NDPNet, NDPNetConfig


# --- data ------------------------------------------------------------------------------------
class _HWCView(Sequence[np.ndarray]):
    """The training tensor seen as HxWx3 numpy images (no copy): the synthesizer's foreign pool."""

    def __init__(self, images: torch.Tensor) -> None:
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> np.ndarray:  # type: ignore[override]
        return self.images[i].permute(1, 2, 0).numpy()


class DefectPairs(Dataset[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]):
    """(good, artificially defective, mask) triples; each worker process owns its synthesizer."""

    def __init__(self, images: torch.Tensor, seed: int, cfg: NDPNetConfig) -> None:
        self.images = images
        self.seed = seed
        self.anomaly_prob = cfg.anomaly_prob
        self.augment = cfg.augment
        self.fills = parse_fills(cfg.fills, "ndpnet")
        self.blend = (0.0, cfg.blend_max)
        self._synth: DefectSynthesizer | None = None
        self._pid = -1

    def __len__(self) -> int:
        return len(self.images)

    def synth(self) -> DefectSynthesizer:
        if self._synth is None or self._pid != os.getpid():
            info = get_worker_info()
            wid = info.id if info is not None else 0
            self._synth = DefectSynthesizer(
                pool=_HWCView(self.images),
                fills=self.fills,
                beta_range=self.blend,
                seed=self.seed * 1009 + wid,
            )
            self._pid = os.getpid()
        return self._synth

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        syn = self.synth()
        img = np.ascontiguousarray(self.images[i].permute(1, 2, 0).numpy())
        if self.augment:
            if syn.rng.random() < 0.5:
                img = img[:, ::-1]
            if syn.rng.random() < 0.5:
                img = img[::-1]
            img = np.ascontiguousarray(img)
        if syn.rng.random() < self.anomaly_prob:
            bad, mask = syn(img)
        else:
            bad, mask = img, np.zeros(img.shape[:2], np.float32)
        to_t = lambda a: torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))  # noqa: E731
        return to_t(img), to_t(bad), torch.from_numpy(mask)[None]


def batches(
    images: torch.Tensor, cfg: NDPNetConfig, n_steps: int, seed: int, device: torch.device
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """n_steps batches sampled with replacement; synthesis runs in worker processes on CUDA hosts."""
    workers = auto_workers(cfg.workers, device)
    ds = DefectPairs(images, seed, cfg)
    g = torch.Generator().manual_seed(seed)
    sampler = RandomSampler(ds, replacement=True, num_samples=n_steps * cfg.batch_size, generator=g)
    loader = synthesis_loader(ds, workers, device, batch_size=cfg.batch_size, sampler=sampler, drop_last=True)
    nb = device.type == "cuda"
    for good, bad, mask in loader:
        yield (
            good.to(device, non_blocking=nb),
            bad.to(device, non_blocking=nb),
            mask.to(device, non_blocking=nb),
        )


# --- training steps ----------------------------------------------------------------------
@dataclass
class Losses:
    """One step's weighted total and its terms (for the progress plot)."""

    total: torch.Tensor
    terms: dict[str, torch.Tensor]


def phase1_losses(
    model: NDPNet, perc: PerceptualLoss | None, good: torch.Tensor, bad: torch.Tensor, mask: torch.Tensor
) -> Losses:
    """Encoder + decoder: reconstruct the good image from the defective one; perceive the defect."""
    cfg: NDPNetConfig = model.config  # type: ignore[assignment]
    n = len(good)
    feats = model.encoder(torch.cat([good, bad]))  # one pass: identical inputs give identical features
    f_good, f_bad = [f[:n] for f in feats], [f[n:] for f in feats]
    recon, _ = model.reconstruct(f_bad, use_rbam=False)
    terms = {
        "mse": F.mse_loss(recon.float(), good),
        "perception": defect_perception_loss(f_good, f_bad, mask),
    }
    if perc is not None:
        terms["perceptual"] = perc(recon, good)
    w = {"mse": cfg.mse_weight, "perception": cfg.perception_weight, "perceptual": cfg.perceptual_weight}
    return Losses(sum(w[k] * v for k, v in terms.items()), terms)  # type: ignore[arg-type]


def phase2_losses(
    model: NDPNet, perc: PerceptualLoss | None, good: torch.Tensor, bad: torch.Tensor, mask: torch.Tensor
) -> Losses:
    """Frozen encoder: repair deep features with RBAM, reconstruct, segment input vs reconstruction."""
    cfg: NDPNetConfig = model.config  # type: ignore[assignment]
    n = len(good)
    with torch.no_grad():
        feats = model.encoder(torch.cat([good, bad]))
    f_good, f_bad = [f[:n] for f in feats], [f[n:] for f in feats]
    recon, repaired = model.reconstruct(f_bad, use_rbam=True)
    repair = torch.stack(
        [repair_loss(r, f_good[l - 1]) for r, l in zip(repaired, RBAM_LAYERS, strict=True)]
    ).mean()
    logits = model.segment(f_bad, recon.detach())
    terms = {
        "mse": F.mse_loss(recon.float(), good),
        "repair": repair,
        "seg": segmentation_loss(logits, mask, cfg.focal_gamma),
    }
    if perc is not None:
        terms["perceptual"] = perc(recon, good)
    w = {
        "mse": cfg.mse_weight,
        "repair": cfg.repair_weight,
        "seg": cfg.seg_weight,
        "perceptual": cfg.perceptual_weight,
    }
    return Losses(sum(w[k] * v for k, v in terms.items()), terms)  # type: ignore[arg-type]


# --- phases ----------------------------------------------------------------------------------
def start_phase2(model: NDPNet) -> list[nn.Parameter]:
    """Freeze the encoder (weights and BN statistics); return the parameters phase 2 trains."""
    model.encoder.requires_grad_(False)
    model.encoder.eval()
    model._ref_cache = None
    return [*model.rbam.parameters(), *model.decoder.parameters(), *model.msdsm.parameters()]


@torch.no_grad()
def choose_reference(model: NDPNet, images: torch.Tensor, ctx: FitContext, max_images: int = 256) -> int:
    """Index of the good image whose pooled deep features (layers 3…5) are closest to the mean."""
    model.encoder.eval()
    idx = np.unique(np.linspace(0, len(images) - 1, min(len(images), max_images)).round().astype(int))
    bs = max(1, model.config.batch_size)  # type: ignore[attr-defined]
    emb = []
    for s in range(0, len(idx), bs):
        x = images[torch.from_numpy(idx[s : s + bs])].to(ctx.device)
        feats = model.encoder(x)
        emb.append(torch.cat([feats[l - 1].float().mean((2, 3)) for l in RBAM_LAYERS], 1))
        ctx.report("reference", min(len(idx), s + bs), len(idx), "choosing the reference image")
    e = torch.cat(emb)
    best = int(idx[int(torch.cdist(e, e.mean(0, keepdim=True))[:, 0].argmin())])
    model.set_reference(images[best], best)
    return best


def _autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager[None]:
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def cosine_lr(base: float, frac: float, floor: float = 0.05) -> float:
    """Cosine decay from base to floor·base as the phase goes from 0 to 1 (of its steps or its time)."""
    frac = min(1.0, max(0.0, frac))
    return base * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * frac)))


@dataclass
class Schedule:
    """Where the two-phase schedule stands; saved with the model so a run that ended early on
    FitContext.stop_at is resumed where it stopped (`aoi train --resume`), not restarted.

    Times are seconds of the schedule's clock (0 = its start; a resumed run sets the clock on by
    `elapsed_s`), so the time box and the cosine decay carry on across runs."""

    steps: list[int] = field(default_factory=lambda: [0, 0])  # steps done in phase 1, phase 2
    planned: list[int] | None = None  # the steps planned per phase when the schedule began
    elapsed_s: float = 0.0
    phase2_start_s: float | None = None  # set when phase 2 began
    finished: bool = False

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> Schedule:
        if not d:
            return cls()
        return cls(
            [int(v) for v in d.get("steps", [0, 0])],
            [int(v) for v in d["planned"]] if d.get("planned") else None,
            float(d.get("elapsed_s", 0.0)),
            None if d.get("phase2_start_s") is None else float(d["phase2_start_s"]),
            bool(d.get("finished", False)),
        )


def _run_phase(
    model: NDPNet,
    phase: int,
    images: torch.Tensor,
    ctx: FitContext,
    perc: PerceptualLoss | None,
    n_steps: int,
    progress: list[int],
    window: tuple[float, float],
    done_before: int = 0,
) -> tuple[int, bool]:
    """Train one phase up to n_steps (or until its deadline); returns (steps done now, paused).

    window = (phase start, deadline) in time.monotonic() terms, the start possibly in an earlier run;
    done_before = steps of this phase done in earlier runs. Paused = ended on ctx.stop_at before the
    phase was over. progress = [steps done, planned total, steps done before this run] (the total
    shrinks if a phase ends early).
    """
    cfg: NDPNetConfig = model.config  # type: ignore[assignment]
    remaining = n_steps - done_before
    if remaining <= 0:
        return 0, False
    t_start, deadline = window
    dev = ctx.device
    model.train()
    params = [*model.encoder.parameters(), *model.decoder.parameters()] if phase == 1 else start_phase2(model)
    opt = torch.optim.Adam(params, cfg.lr, weight_decay=cfg.weight_decay)
    spe = math.ceil(len(images) / cfg.batch_size)
    losses_fn = phase1_losses if phase == 1 else phase2_losses
    # a resumed phase draws other batches than its first run did
    stream = batches(images, cfg, remaining, ctx.seed + phase + 7919 * done_before, dev)
    done, paused = 0, False
    try:
        for good, bad, mask in stream:
            if cfg.lr_schedule == "cosine":
                frac = (done_before + done) / n_steps
                if math.isfinite(deadline):
                    frac = max(frac, (time.monotonic() - t_start) / max(1e-9, deadline - t_start))
                for group in opt.param_groups:
                    group["lr"] = cosine_lr(cfg.lr, frac)
            with _autocast(dev, cfg.amp):
                out = losses_fn(model, perc, good, bad, mask)
            opt.zero_grad(set_to_none=True)
            out.total.backward()
            opt.step()
            done += 1
            stop = time.monotonic() > deadline
            paused = not stop and done < remaining and ctx.should_pause()
            if stop:  # the plan shrinks before the last report, so progress ends at 100 %
                progress[1] -= remaining - done
            ctx.report(
                f"phase{phase}",
                progress[0] + done,
                progress[1],
                f"phase {phase}, epoch {(done_before + done - 1) // spe + 1}",
                loss=float(out.total.detach()),
                resumed_from=progress[2],
                **{k: float(v.detach()) for k, v in out.terms.items()},
            )
            if stop or paused:
                break
    finally:
        stream.close()  # shuts the synthesis workers down, also on cancel
    progress[0] += done
    return done, paused


def fit(model: NDPNet, images: torch.Tensor, ctx: FitContext) -> None:
    """The full two-phase recipe (NDPNet.fit calls it); progress and loss every step, cancel at every step."""
    cfg: NDPNetConfig = model.config  # type: ignore[assignment]
    if images.ndim != 4 or images.shape[1] != 3 or len(images) == 0:
        raise DataError(f"NDP-Net trains on (N, 3, H, W) good images, got {tuple(images.shape)}")
    if min(images.shape[-2:]) < 16:
        raise DataError("NDP-Net needs images of at least 16x16 pixels")
    if cfg.epochs < 0 or cfg.phase2_epochs < 0 or cfg.batch_size < 1 or cfg.max_seconds < 0:
        raise DataError("epochs, phase2_epochs and max_seconds must be >= 0, batch_size >= 1")
    if not 0 <= cfg.blend_max < 1:
        raise DataError("ndpnet: --blend-max must be in [0, 1)")
    parse_fills(cfg.fills, "ndpnet")  # a bad list fails now, not in a worker process
    if cfg.lr_schedule not in ("constant", "cosine"):
        raise DataError(f"lr_schedule must be 'constant' or 'cosine', not {cfg.lr_schedule!r}")
    dev = ctx.device
    model.to(dev)
    model.requires_grad_(True)
    pad = (-images.shape[-2]) % 16, (-images.shape[-1]) % 16
    if any(pad):  # the encoder halves the size four times; replicate-pad like predict() does
        images = F.pad(images, (0, pad[1], 0, pad[0]), mode="replicate")
    perc = PerceptualLoss().to(dev) if cfg.perceptual_weight > 0 else None
    spe = math.ceil(len(images) / cfg.batch_size)
    sched = Schedule.from_dict(model.schedule)  # fresh, or where a paused run stopped
    if sched.finished:
        raise DataError("ndpnet: this model finished its schedule; there is nothing to resume")
    if sched.planned is None:  # kept, so a resumed run plans the same steps whatever its image count
        sched.planned = [cfg.epochs * spe, cfg.phase2_epochs * spe]
    n1, n2 = sched.planned
    progress = [sum(sched.steps), n1 + n2, sum(sched.steps)]  # done, planned, done by earlier runs
    t0 = time.monotonic() - sched.elapsed_s  # the schedule's clock, set on by the earlier runs
    budget = cfg.max_seconds if cfg.max_seconds > 0 else math.inf
    end1 = t0 + budget * n1 / max(1, n1 + n2)

    def save(paused: bool) -> None:
        sched.elapsed_s = time.monotonic() - t0
        sched.finished = not paused
        model.schedule = asdict(sched)

    if sched.phase2_start_s is None:
        done, paused = _run_phase(model, 1, images, ctx, perc, n1, progress, (t0, end1), sched.steps[0])
        sched.steps[0] += done
        choose_reference(model, images, ctx)  # also when paused: the saved model must predict
        if paused:
            start_phase2(model)
            model.eval()
            save(paused=True)
            return
        sched.phase2_start_s = time.monotonic() - t0
    t2 = t0 + sched.phase2_start_s
    done, paused = _run_phase(model, 2, images, ctx, perc, n2, progress, (t2, t0 + budget), sched.steps[1])
    sched.steps[1] += done
    start_phase2(model)  # also when phase 2 had no steps: encoder frozen, reference cache fresh
    model.eval()
    save(paused)
