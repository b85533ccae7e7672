"""SCL-VI (Wang, Yao, Yu): self-supervised context learning + Patch SVDD with affinity fusion.

Encoders trained from scratch on good images only (no defect synthesis, no ImageNet weights) by a
3×3 jigsaw relative-position task plus the Patch SVDD loss; at test time every 32 px patch (stride 4)
and 64 px patch (stride 16) is embedded, scored against a memory of normal embeddings with affinity
fusion of its η nearest neighbours, scores are spread back to pixels (mean over covering patches)
and the two scales are fused.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from inspection_core.models.base import AnomalyModel, ModelConfig, option
from inspection_core.models.layers import gaussian_blur
from inspection_core.models.registry import register_model
from inspection_core.models.sclvi.affinity import affinity_scores
from inspection_core.models.sclvi.layers import PATCH, HierHead, PatchEncoder
from inspection_core.runtime.context import FitContext

BIG = 2 * PATCH  # the hierarchical patch size
logger = logging.getLogger(__name__)
# torch.compile's tracing and caches are not thread-safe, and the app may scan from two threads at once
# (live inspection and a validation run); the GPU would serialise the two scans anyway
_COMPILED_SCAN_LOCK = threading.Lock()


@dataclass
class SCLVIConfig(ModelConfig):
    epochs: int = option(30, "training epochs (an epoch is steps-per-epoch optimiser steps)")
    steps_per_epoch: int = option(100, "optimiser steps per epoch (independent of the number of images)")
    batch_size: int = option(64, "samples per step of each pretext task and scale")
    lr: float = option(1e-4, "Adam learning rate (paper: 1e-4)")
    alpha: float = option(1e-4, "weight α of the Patch SVDD loss against the context loss (paper: 1e-4)")
    max_seconds: float = option(0.0, "stop training after this many seconds (0 = run all epochs/steps)")
    jitter_frac: float = option(0.25, "jitter of each context patch, fraction of the patch (0.25 = 16 px)")
    grey_shift: float = option(0.05, "std of the random grey-level shift of each context patch")
    noise_std: float = option(0.02, "std of the pixel noise added to each context patch")
    embed_dim: int = option(64, "embedding size D of both encoders")
    width: float = option(1.0, "channel multiplier of the main encoder (1 = paper; smaller = faster)")
    stride_32: int = option(4, "scan stride of the 32 px patches (paper: 4; must divide 32)")
    stride_64: int = option(16, "scan stride of the 64 px patches (paper: 16; a multiple of stride-32)")
    neighbours: int = option(10, "η nearest normal embeddings fused by affinity (1 = plain nearest)")
    affinity_cap: float = option(20.0, "λ, the cap on the affinity logits Σd/d_i")
    memory_size: int = option(100_000, "normal embeddings kept per scale (random subsample; more = slower)")
    fusion: str = option("sum", "how the 64 and 32 px maps are fused: sum or mult", choices=("sum", "mult"))
    smoothing_sigma: float = option(4.0, "Gaussian smoothing of the anomaly map, px at model input size")
    scan_batch: int = option(4096, "patches per encoder call when scanning an image (bounds GPU memory)")
    amp: bool = option(True, "bfloat16 autocast on CUDA (CPU always runs fp32)")
    compile_scan: bool = option(
        True,
        "torch.compile the encoder of the dense scan on CUDA (2x faster; the first image compiles, ~20 s)",
    )

    def __post_init__(self) -> None:
        h, w = self.image_size
        if min(h, w) < BIG:
            raise ValueError(f"image_size must be at least {BIG}x{BIG} px, got {h}x{w}")
        if self.stride_32 < 1 or PATCH % self.stride_32:
            raise ValueError(f"stride_32 must divide {PATCH}, got {self.stride_32}")
        if self.stride_64 < 1 or self.stride_64 % self.stride_32:
            raise ValueError(f"stride_64 must be a multiple of stride_32, got {self.stride_64}")
        if self.fusion not in ("sum", "mult"):
            raise ValueError(f"fusion must be sum or mult, got {self.fusion!r}")
        for name in ("epochs", "steps_per_epoch", "batch_size", "neighbours", "memory_size", "scan_batch"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SCLVIConfig:
        """Also reads model.json files saved before the time box was renamed to `max_seconds`."""
        d = dict(d)
        if "time_limit_s" in d:
            d.setdefault("max_seconds", d.pop("time_limit_s"))
        return super().from_dict(d)  # type: ignore[return-value]


def padded_size(size: int, s32: int, s64: int) -> int:
    """Smallest size ≥ `size` that both patch grids tile exactly (so every pixel is covered)."""
    n = size
    while (n - PATCH) % s32 or (n - BIG) % s64:
        n += 1
    return n


def distribute(scores: torch.Tensor, out_size: tuple[int, int], k: int, s: int) -> torch.Tensor:
    """Eq. 7: each pixel gets the mean score of the k×k patches (stride s) covering it. (N,I,J)→(N,1,H,W)."""
    x = scores[:, None].float()
    ones = torch.ones(1, 1, k, k, device=x.device)
    total = F.conv_transpose2d(x, ones, stride=s)
    count = F.conv_transpose2d(torch.ones_like(x[:1]), ones, stride=s)
    out = total / count.clamp_min(1)
    return out[..., : out_size[0], : out_size[1]]


@register_model(
    "sclvi",
    "self-supervised jigsaw context + Patch SVDD encoders, affinity-fused kNN; no pretrained weights",
    paper="Wang, Yao, Yu, SCL-VI (arXiv 2311.06504)",
)
class SCLVI(AnomalyModel):
    Config = SCLVIConfig
    version = 1
    # capturable (identical maps), but its dense patch scan keeps the GPU busy: a graph saves 0.6 of
    # 24.7 ms at batch 1 (H200, docs/results.md), not worth a graph's memory per
    # input shape
    graph_safe = False

    def __init__(self, config: SCLVIConfig | None = None) -> None:
        super().__init__(config)
        cfg: SCLVIConfig = self.config  # type: ignore[assignment]
        self.encoder = PatchEncoder(cfg.embed_dim, cfg.width)
        self.head = HierHead(cfg.embed_dim)
        self.register_buffer("pixel_mean", torch.zeros(3))
        self.register_buffer("memory32", torch.zeros(0, cfg.embed_dim))
        self.register_buffer("memory64", torch.zeros(0, cfg.embed_dim))
        self.train_info: dict[str, Any] = {}
        self._compiled: tuple[tuple[Any, ...], Callable[..., torch.Tensor]] | None = None  # not saved
        self._no_compile = False

    def scan_encoder(self) -> Callable[[torch.Tensor], torch.Tensor]:
        """The encoder the dense scan runs: on CUDA (compile_scan) wrapped by torch.compile, which fuses
        GroupNorm, ReLU and pooling (eager GroupNorm traffic is most of the scan; compiled, it takes about
        half the time on an H200). Kept until the weights change; eager wherever compiling fails."""
        cfg: SCLVIConfig = self.config  # type: ignore[assignment]
        if not cfg.compile_scan or self.device.type != "cuda" or self.encoder.training or self._no_compile:
            return self.encoder
        w = next(self.encoder.parameters())
        key = (w.device, w.data_ptr(), w._version)
        if self._compiled is None or self._compiled[0] != key:
            self._compiled = (key, torch.compile(self.encoder, dynamic=False))
        return self._compiled[1]

    def _encode(self, patches: torch.Tensor) -> torch.Tensor:
        """Patches → embeddings through scan_encoder; a compile failure (no Triton, no compiler) is
        logged once and the scan stays eager from then on."""
        enc = self.scan_encoder()
        if enc is self.encoder:
            return enc(patches)
        try:
            with _COMPILED_SCAN_LOCK:
                return enc(patches)
        except torch.cuda.OutOfMemoryError:
            raise  # not the compiler's fault: the eager scan would not fit either
        except Exception as exc:  # noqa: BLE001 - any compiler failure: the eager encoder still works
            logger.warning("sclvi: torch.compile of the patch scan failed, running eager: %s", exc)
            self._no_compile = True
            return self.encoder(patches)

    def _autocast(self) -> contextlib.AbstractContextManager:
        cfg: SCLVIConfig = self.config  # type: ignore[assignment]
        if cfg.amp and self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16, cache_enabled=False)
        return contextlib.nullcontext()

    def standardize(self, x: torch.Tensor) -> torch.Tensor:
        """Subtract the training set's mean colour (the authors' input standardisation)."""
        return x - self.pixel_mean.view(1, 3, 1, 1).to(x.dtype)

    def embed_dense(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Standardised (N, 3, H, W) → embeddings of every 32 px patch (N, D, I, J) at stride_32 and of
        every 64 px patch (N, D, I', J') at stride_64. H, W must be tiled exactly by both grids.

        The 64 px embeddings come from the 32 px grid for free: a 64 px patch's quadrants are 32 px
        patches of the same grid, so the hierarchical head is a 2×2 convolution dilated by 32/stride.
        """
        cfg: SCLVIConfig = self.config  # type: ignore[assignment]
        s = cfg.stride_32
        n = x.shape[0]
        grid = x.unfold(2, PATCH, s).unfold(3, PATCH, s)  # (N, 3, I, J, 32, 32), a view
        ni, nj = grid.shape[2], grid.shape[3]
        per_image = ni * nj
        step = max(1, cfg.scan_batch // per_image)
        chunks = []
        with self._autocast():
            for i in range(0, n, step):
                p = grid[i : i + step].permute(0, 2, 3, 1, 4, 5).reshape(-1, 3, PATCH, PATCH)
                chunks.extend(self._encode(c).float() for c in p.split(cfg.scan_batch))
            e32 = torch.cat(chunks).view(n, ni, nj, -1).permute(0, 3, 1, 2).contiguous()
            e64 = self.head(e32, dilation=PATCH // s).float()
        r = cfg.stride_64 // s
        return e32, e64[..., ::r, ::r].contiguous()

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        cfg: SCLVIConfig = self.config  # type: ignore[assignment]
        h, w = x.shape[-2:]
        ph = padded_size(h, cfg.stride_32, cfg.stride_64) - h
        pw = padded_size(w, cfg.stride_32, cfg.stride_64) - w
        return F.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x

    @torch.no_grad()
    def build_memory(self, images: torch.Tensor, ctx: FitContext, batch: int = 8) -> None:
        """Memory of normal embeddings per scale: an equal random share of each training image's patches."""
        cfg: SCLVIConfig = self.config  # type: ignore[assignment]
        n = len(images)
        quota = math.ceil(cfg.memory_size / n)
        gen = torch.Generator().manual_seed(ctx.seed + 1)
        m32, m64 = [], []
        for i in range(0, n, batch):
            x = self._pad(self.standardize(images[i : i + batch].to(ctx.device)))
            for e, out in zip(self.embed_dense(x), (m32, m64), strict=True):
                flat = e.permute(0, 2, 3, 1).reshape(e.shape[0], -1, e.shape[1])
                for f in flat:
                    keep = torch.randperm(f.shape[0], generator=gen)[:quota].to(f.device)
                    out.append(f[keep])
            ctx.report("memory", min(n, i + batch), n, "embedding normal patches")
        self.memory32 = torch.cat(m32)[: cfg.memory_size].contiguous()
        self.memory64 = torch.cat(m64)[: cfg.memory_size].contiguous()

    def extra_state(self) -> dict[str, Any]:
        """How much training the encoders got (with a time limit the step count varies by GPU)."""
        return dict(self.train_info)

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.train_info = dict(state)

    def fit(self, images: torch.Tensor, ctx: FitContext) -> None:
        from inspection_core.models.sclvi import train  # the training stack loads only when it trains

        train.fit(self, images, ctx)

    @torch.no_grad()
    def predict(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.memory32.shape[0] == 0 or self.memory64.shape[0] == 0:
            raise RuntimeError("SCL-VI is not fitted")
        cfg: SCLVIConfig = self.config  # type: ignore[assignment]
        n, _, h, w = batch.shape
        x = self._pad(self.standardize(batch.float()))
        hp, wp = x.shape[-2:]
        maps = []
        for e, mem, k, s in zip(
            self.embed_dense(x),
            (self.memory32, self.memory64),
            (PATCH, BIG),
            (cfg.stride_32, cfg.stride_64),
            strict=True,
        ):
            _, d, ni, nj = e.shape
            q = e.permute(0, 2, 3, 1).reshape(-1, d)
            sc = affinity_scores(q, mem, cfg.neighbours, cfg.affinity_cap).view(n, ni, nj)
            maps.append(distribute(sc, (hp, wp), k, s))
        amap = maps[0] + maps[1] if cfg.fusion == "sum" else maps[0] * maps[1]
        amap = gaussian_blur(amap[..., :h, :w], cfg.smoothing_sigma)
        return amap[:, 0], amap.flatten(1).max(1).values
