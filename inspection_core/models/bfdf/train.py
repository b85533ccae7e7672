"""BFDF's training recipe: reference images by k-means, then positive/negative pairs made on the fly,
Focal + L1 + Dice, warmup + cosine. `fit(model, images, ctx)` is the entry point (BFDF.fit calls it).

Pairs are synthesised in numpy (DefectSynthesizer, ~7 ms an image), optionally in DataLoader worker
processes so a GPU is not starved; the model itself only sees ready (pos, neg, mask) batches.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from inspection_core.data.synthesis import DefectSynthesizer
from inspection_core.errors import AoiError
from inspection_core.models.bfdf.losses import bfdf_loss
from inspection_core.postprocess.foreground import otsu_foreground
from inspection_core.runtime.context import FitContext
from inspection_core.runtime.workers import auto_workers, synthesis_loader

if TYPE_CHECKING:
    from inspection_core.models.bfdf.model import BFDF

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def augment(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Mild photometric/flip augmentation of one HxWx3 float image (the 'augmented positive samples')."""
    if rng.random() < 0.5:
        img = img[:, ::-1]
    if rng.random() < 0.5:
        img = img[::-1]
    gain, bias = rng.uniform(0.9, 1.1), rng.uniform(-0.05, 0.05)
    return np.clip(img * gain + bias, 0, 1).astype(np.float32)


class PairSampler:
    """Makes (positive, negative, mask) batches from good images.

    The negative is an augmented good image with a Perlin-mask defect placed inside its Otsu
    foreground (probability `anomaly_prob`, else left clean with an empty mask). Its positive is the
    same augmented image (`same_prob`: the difference is then exactly the defect), its nearest
    reference image (`reference_prob`: what inference will see), or a random good image (the rest:
    robustness to ordinary variation).
    """

    def __init__(
        self,
        images: torch.Tensor,
        nearest_ref: np.ndarray,
        batch_size: int,
        same_prob: float,
        reference_prob: float,
        anomaly_prob: float,
        use_foreground: bool,
        seed: int,
        pool_size: int = 64,
    ) -> None:
        self.images = images.numpy()  # (N, 3, H, W) view, shared with DataLoader workers after fork
        self.nearest_ref = nearest_ref
        self.batch_size = batch_size
        self.same_prob, self.reference_prob, self.anomaly_prob = same_prob, reference_prob, anomaly_prob
        self.use_foreground = use_foreground
        self.rng = np.random.default_rng(seed)
        n = len(self.images)
        pool_idx = self.rng.choice(n, size=min(n, pool_size), replace=False)
        self.synth = DefectSynthesizer(pool=[self._hwc(int(i)) for i in pool_idx], seed=seed + 1)

    def _hwc(self, i: int) -> np.ndarray:
        return np.ascontiguousarray(self.images[i].transpose(1, 2, 0))

    def sample(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rng = self.rng
        n = len(self.images)
        i = int(rng.integers(n))
        src = augment(self._hwc(i), rng)
        if rng.random() < self.anomaly_prob:
            fg = otsu_foreground(src) if self.use_foreground else None
            neg, mask = self.synth(src, fg)
        else:
            neg, mask = src, np.zeros(src.shape[:2], np.float32)
        u = rng.random()
        if u < self.same_prob:
            pos = src
        elif u < self.same_prob + self.reference_prob:
            pos = augment(self._hwc(int(self.nearest_ref[i])), rng)
        else:
            pos = augment(self._hwc(int(rng.integers(n))), rng)
        return pos, neg, mask

    def batch(self) -> Batch:
        """(pos, neg) (B, 3, H, W) and mask (B, 1, H, W), all uint8 (×255 for images).

        uint8 quarters what crosses process boundaries (shared memory is small in many containers)
        and the host→GPU copy; the images were 8-bit to begin with.
        """
        pos, neg, mask = zip(*(self.sample() for _ in range(self.batch_size)), strict=True)

        def to_u8(a: tuple[np.ndarray, ...]) -> torch.Tensor:
            x = np.rint(np.stack(a).transpose(0, 3, 1, 2) * 255).astype(np.uint8)
            return torch.from_numpy(np.ascontiguousarray(x))

        return to_u8(pos), to_u8(neg), torch.from_numpy(np.stack(mask).astype(np.uint8))[:, None]


class _PairStream(IterableDataset):
    """Endless batches; each DataLoader worker gets its own seed."""

    def __init__(self, kwargs: dict, seed: int) -> None:
        super().__init__()
        self.kwargs, self.seed = kwargs, seed

    def __iter__(self) -> Iterator[Batch]:
        info = get_worker_info()
        wid = info.id if info is not None else 0
        sampler = PairSampler(**self.kwargs, seed=self.seed + 1000 * wid)
        while True:
            yield sampler.batch()


def kmeans_medoids(x: torch.Tensor, k: int, seed: int, iters: int = 20) -> torch.Tensor:
    """Indices of k rows of x (N, D) closest to k-means centroids: typical, diverse references."""
    n = x.shape[0]
    if k >= n:
        return torch.arange(n)
    g = torch.Generator().manual_seed(seed)
    c = x[torch.randperm(n, generator=g)[:k]].clone()
    for _ in range(iters):
        assign = torch.cdist(x, c).argmin(1)
        for j in range(k):
            members = x[assign == j]
            if len(members):
                c[j] = members.mean(0)
    d = torch.cdist(c, x)
    chosen: list[int] = []
    for j in range(k):  # distinct medoids
        for i in d[j].argsort().tolist():
            if i not in chosen:
                chosen.append(i)
                break
    return torch.tensor(chosen)


def lr_factor(progress: float, warmup: float = 0.05) -> float:
    """Linear warmup over the first `warmup` of training, then cosine decay to 5 % of the peak."""
    if progress < warmup:
        return max(progress / warmup, 0.01)
    t = min(1.0, (progress - warmup) / (1 - warmup))
    return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * t))


def total_steps(n_images: int, batch_size: int, epochs: int, steps: int) -> int:
    """`steps` when given, else epochs × ceil(N / batch)."""
    return steps if steps > 0 else max(1, epochs * math.ceil(n_images / batch_size))


def train_steps(model: BFDF, images: torch.Tensor, nearest_ref: np.ndarray, ctx: FitContext) -> list[float]:
    """Train the fusion head (and the encoder when asked). Returns the loss of every step.

    Training ends after the planned steps or after `max_seconds`, whichever comes first; the learning
    rate follows whichever of the two is further along, so a time-boxed run still finishes its decay.
    """
    cfg = model.config
    dev = ctx.device
    use_amp = bool(cfg.amp) and dev.type == "cuda"
    total = total_steps(len(images), cfg.batch_size, cfg.epochs, cfg.steps)
    steps_per_epoch = math.ceil(len(images) / cfg.batch_size)
    groups = [{"params": list(model.head.parameters()), "lr": cfg.lr}]
    if cfg.train_encoder:
        groups.append({"params": list(model.encoder.parameters()), "lr": cfg.lr * cfg.encoder_lr_scale})
    for g in groups:
        g["base_lr"] = g["lr"]
    opt = torch.optim.AdamW(groups, weight_decay=1e-4)
    kwargs = dict(
        images=images.contiguous(),
        nearest_ref=nearest_ref,
        batch_size=cfg.batch_size,
        same_prob=cfg.same_prob,
        reference_prob=cfg.reference_prob,
        anomaly_prob=cfg.anomaly_prob,
        use_foreground=cfg.foreground == "otsu",
    )
    workers = auto_workers(cfg.workers, dev)
    loader = synthesis_loader(_PairStream(kwargs, ctx.seed), workers, dev, prefetch=2)
    model.train()
    losses: list[float] = []
    pending: list[torch.Tensor] = []
    it = iter(loader)
    t0 = last = time.perf_counter()
    progress = 0.0
    try:
        step = 0
        while step < total and progress < 1.0:
            ctx.cancel.check()
            pos, neg, mask = (t.to(dev, non_blocking=True) for t in next(it))
            pos, neg, mask = pos.float().div_(255), neg.float().div_(255), mask.float()
            if step == 0:  # the time box starts once workers deliver, not while they start up
                t0 = time.perf_counter()
            for g in opt.param_groups:
                g["lr"] = g["base_lr"] * lr_factor(progress)
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=use_amp):
                logits = model.forward_pair(neg, pos)
            loss, _ = bfdf_loss(logits, mask, cfg.w_focal, cfg.w_l1, cfg.w_dice)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            pending.append(loss.detach())
            now = time.perf_counter()
            progress = step / total
            if cfg.max_seconds > 0:
                progress = max(progress, (now - t0) / cfg.max_seconds)
            if ctx.should_pause():  # "finish now": keep what was learned
                progress = 1.0
            if dev.type == "cpu" or now - last > 0.5 or progress >= 1.0:  # no device sync every step
                vals = torch.stack(pending).float().cpu().tolist()
                losses.extend(vals)
                pending.clear()
                last = now
                epoch = (step - 1) // steps_per_epoch + 1
                shown_total = total if cfg.max_seconds <= 0 else max(step, round(step / max(progress, 1e-9)))
                ctx.report("train", step, shown_total, f"epoch {epoch}", loss=float(np.mean(vals)))
    finally:
        del it  # shuts DataLoader workers down, also on cancel
        model.eval()
    return losses


@torch.no_grad()
def descriptors(model: BFDF, images: torch.Tensor, ctx: FitContext, bs: int = 32) -> torch.Tensor:
    """Global descriptors (N, D) of the good images, on the CPU."""
    model.eval()
    out = []
    for i in range(0, len(images), bs):
        x = images[i : i + bs].to(ctx.device)
        out.append(model.descriptor(model.encoder(x)).cpu())
        ctx.report("references", min(len(images), i + bs), len(images), "choosing reference images")
    return torch.cat(out)


def fit(model: BFDF, images: torch.Tensor, ctx: FitContext) -> None:
    """Choose the reference images (k-means medoids of the descriptors), train, keep the references."""
    cfg = model.config
    if images.ndim != 4 or images.shape[1] != 3 or tuple(images.shape[-2:]) != model.image_size:
        raise AoiError(
            f"bfdf: expected good images (N, 3, {model.image_size[0]}, {model.image_size[1]}), "
            f"got {tuple(images.shape)}"
        )
    model.to(ctx.device)
    desc = descriptors(model, images, ctx)
    ref_idx = kmeans_medoids(desc, cfg.n_references, ctx.seed)
    nearest = (desc @ desc[ref_idx].T).argmax(1)
    nearest_ref = ref_idx[nearest].numpy()
    model.losses = train_steps(model, images, np.asarray(nearest_ref), ctx)
    model.ref_images = images[ref_idx].to(ctx.device, torch.float16).contiguous()
    model._ref_cache = None
    model.eval()
