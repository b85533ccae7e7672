"""BFDF: self-supervised biradial fusion of differential features between positive and negative samples.

Two branches through one shared encoder (pretrained EfficientNet-Lite0): the positive (a good
reference) and the negative (the image under test; in training a good image with a synthetic
defect). Squared feature differences per scale are fused by coordinate attention and a PANet
pyramid, decoded with the inspected image's own low/high-level features into defect-mask logits.
Trained with weighted Focal + L1 + Dice on Perlin-mask defects (Gao, Wei, Zhu). At inference the
positive branch is the nearest of a few good reference images chosen at fit time, whose features
are cached, so one encoder pass per image remains.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from inspection_core.errors import AoiError
from inspection_core.models.backbones import LITE0_STRIDES, EfficientNetLite0Features
from inspection_core.models.base import AnomalyModel, ModelConfig, option
from inspection_core.models.bfdf.layers import BFDFHead
from inspection_core.models.layers import gaussian_blur
from inspection_core.models.registry import register_model
from inspection_core.runtime.context import FitContext

FOREGROUND_MODES = ("otsu", "none")


@dataclass
class BFDFConfig(ModelConfig):
    epochs: int = option(30, "passes over the good images (one pass = N / batch-size steps)")
    steps: int = option(0, "training steps; overrides epochs when > 0")
    # with a limit, the lr decays on elapsed time (train.py), so a time-boxed run still anneals
    max_seconds: float = option(0.0, "stop training after this many seconds (0 = run all epochs/steps)")
    batch_size: int = option(16, "pairs per training step")
    lr: float = option(1e-3, "peak learning rate of the fusion head (AdamW, warmup + cosine)")
    w_focal: float = option(0.0, "weight of the Focal loss term (paper's best grid point: 0)")
    w_l1: float = option(0.2, "weight of the L1 loss term (paper's best grid point: 0.2)")
    w_dice: float = option(0.8, "weight of the Dice loss term (paper's best grid point: 0.8)")
    anomaly_prob: float = option(0.7, "fraction of negative samples that get a synthetic defect")
    same_prob: float = option(0.2, "pairs whose positive is the negative's own clean image")
    reference_prob: float = option(0.5, "pairs whose positive is the nearest reference (as at inference)")
    foreground: str = option(
        "otsu", "where defects are synthesised: otsu (product region) or none (anywhere)"
    )
    n_references: int = option(8, "good reference images kept with the model for the positive branch")
    blocks: tuple[int, ...] = option(
        (2, 4, 10, 14), "EfficientNet-Lite0 blocks: low-level, then the difference scales (last = high-level)"
    )
    channels: int = option(64, "channels of the fused difference pyramid")
    train_encoder: bool = option(
        False, "also fine-tune the pretrained encoder (slower; saved with the model)"
    )
    encoder_lr_scale: float = option(0.1, "encoder learning rate relative to lr when train-encoder is on")
    smoothing_sigma: float = option(4.0, "Gaussian smoothing of the mask before taking the image score (px)")
    amp: bool = option(True, "bfloat16 autocast on CUDA (CPU always runs float32)")
    workers: int = option(
        -1, "worker processes that synthesise pairs (-1 = auto: all cores but two, ≤ 12, on a GPU; 0 on CPU)"
    )


def _check_config(cfg: BFDFConfig) -> None:
    """Bad options are one clear line, not a shape error deep in the network."""
    b = tuple(int(x) for x in cfg.blocks)
    if len(b) < 3 or any(x < 0 or x > 15 for x in b) or list(b) != sorted(set(b)):
        raise AoiError("bfdf: --blocks needs ≥ 3 increasing EfficientNet-Lite0 block indices (0-15)")
    strides = [LITE0_STRIDES[x] for x in b[1:]]
    if any(s2 != 2 * s1 for s1, s2 in zip(strides, strides[1:], strict=False)):
        raise AoiError(
            f"bfdf: difference scales must double in stride, blocks {b[1:]} have strides {strides}"
        )
    if cfg.foreground not in FOREGROUND_MODES:
        raise AoiError(f"bfdf: --foreground must be one of {', '.join(FOREGROUND_MODES)}")
    for name in ("anomaly_prob", "same_prob", "reference_prob"):
        if not 0.0 <= getattr(cfg, name) <= 1.0:
            raise AoiError(f"bfdf: --{name.replace('_', '-')} must be in [0, 1]")
    if cfg.same_prob + cfg.reference_prob > 1.0:
        raise AoiError("bfdf: --same-prob + --reference-prob must not exceed 1")
    if min(cfg.w_focal, cfg.w_l1, cfg.w_dice) < 0 or cfg.w_focal + cfg.w_l1 + cfg.w_dice <= 0:
        raise AoiError("bfdf: loss weights must be ≥ 0 and not all 0")
    if cfg.batch_size < 1 or cfg.n_references < 1 or cfg.channels < 8 or cfg.workers < -1:
        raise AoiError("bfdf: batch-size and n-references must be ≥ 1, channels ≥ 8, workers ≥ -1 (auto)")


@register_model(
    "bfdf",
    "self-supervised two-branch feature-difference segmenter (CA + PANet) trained on synthetic defects",
    paper="Gao, Wei, Zhu — biradial fusion of differential features between positive and negative samples",
)
class BFDF(AnomalyModel):
    Config = BFDFConfig
    version = 1
    pretrained_prefixes = ("encoder.",)
    # replayed from CUDA graphs on a GPU: batch 1 1.28 ms vs 11.0 ms eager, maps identical on fresh
    # inputs (H200, docs/results.md); the reference features are cached before
    # capture (warm-up)
    graph_safe = True

    def __init__(self, config: BFDFConfig | None = None) -> None:
        super().__init__(config)
        cfg: BFDFConfig = self.config  # type: ignore[assignment]
        cfg.blocks = tuple(int(b) for b in cfg.blocks)
        _check_config(cfg)
        if cfg.train_encoder:  # fine-tuned weights differ from the shipped ones: save them
            self.pretrained_prefixes = ()
        self.encoder = EfficientNetLite0Features(cfg.blocks, frozen=not cfg.train_encoder)
        self.head = BFDFHead(cfg.blocks, cfg.channels)
        h, w = self.image_size
        self.register_buffer("ref_images", torch.zeros(0, 3, h, w, dtype=torch.float16))
        self._ref_cache: tuple[Any, list[torch.Tensor], torch.Tensor] | None = None
        self.losses: list[float] = []  # loss of every step of the last fit (not saved)

    # --- features ----------------------------------------------------------------------------
    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Shared encoder: [low-level, difference scales...] (the last is also the high-level one)."""
        cfg: BFDFConfig = self.config  # type: ignore[assignment]
        if cfg.train_encoder and self.training:
            return self.encoder(x)
        with torch.no_grad():
            return self.encoder(x)

    @staticmethod
    def descriptor(feats: list[torch.Tensor]) -> torch.Tensor:
        """Global descriptor (N, D) used to pick the nearest reference: pooled high-level features."""
        return F.normalize(feats[-1].float().mean((2, 3)), dim=1)

    def forward_pair(self, neg: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        """Mask logits (N, 1, H, W) for negatives given their positives; both (N, 3, H, W)."""
        feats = self.encode(torch.cat([neg, pos]))
        n = neg.shape[0]
        logits = self.head([f[:n] for f in feats], [f[n:] for f in feats])
        return F.interpolate(logits, size=neg.shape[-2:], mode="bilinear", align_corners=False)

    # --- fit -----------------------------------------------------------------------------------
    def fit(self, images: torch.Tensor, ctx: FitContext) -> None:
        from inspection_core.models.bfdf import train  # the training stack loads only when it trains

        train.fit(self, images, ctx)

    # --- predict -------------------------------------------------------------------------------
    def _references(self, device: torch.device) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Encoder features and descriptors of the reference images, computed once per device."""
        key = (device, self.ref_images.data_ptr())
        if self._ref_cache is None or self._ref_cache[0] != key:
            with torch.inference_mode():
                feats = self.encoder(self.ref_images.to(device, torch.float32))
                self._ref_cache = (key, feats, self.descriptor(feats))
        return self._ref_cache[1], self._ref_cache[2]

    def load_saved_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        super().load_saved_tensors(tensors)
        self._ref_cache = None

    @torch.no_grad()
    def predict(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.ref_images.shape[0] == 0:
            raise RuntimeError("BFDF is not fitted")
        cfg: BFDFConfig = self.config  # type: ignore[assignment]
        dev = batch.device
        use_amp = bool(cfg.amp) and dev.type == "cuda"
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=use_amp, cache_enabled=False):
            ref_feats, ref_desc = self._references(dev)
            feats = self.encoder(batch)
            idx = (self.descriptor(feats) @ ref_desc.T).argmax(1)
            logits = self.head(feats, [rf[idx] for rf in ref_feats])
        prob = torch.sigmoid(logits.float())
        amap = F.interpolate(prob, size=batch.shape[-2:], mode="bilinear", align_corners=False)
        amap = gaussian_blur(amap, cfg.smoothing_sigma)
        return amap[:, 0], amap.flatten(1).max(1).values

    def extra_state(self) -> dict[str, Any]:
        return {"n_references": int(self.ref_images.shape[0])}
