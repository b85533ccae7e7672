"""SIDN: semantic information decomposition network (Yang, Hu, Yin, Wang, IEEE TII 2023).

Segments defects directly instead of reconstructing the background. Grayscale in; a shared encoder
(FEM) → two branches that split texture and defect semantics (FSEM) → a cluster-centre relation module
per branch (GSRM) → two segmentation heads (SM): texture probability and defect probability. The
anomaly map is I_s = (1 - λ_f)(1 - I_s^t) + λ_f·I_s^d, median filtered; the image score is its max.
Small (about 4 M parameters) so it runs on CPU-only stations. Network parts: layers.py; training: train.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from inspection_core.errors import AoiError
from inspection_core.models.base import AnomalyModel, ModelConfig, option
from inspection_core.models.layers import median_filter
from inspection_core.models.registry import register_model
from inspection_core.models.sidn.layers import FEM, GSRM, STRIDE, FSEMBranch, SegHead, to_gray
from inspection_core.runtime.context import FitContext


@dataclass
class SIDNConfig(ModelConfig):
    # defaults from our grid on magnetic tile (README "Input size, fills and precision"), not the paper's
    # 256² / noise fills / mixed precision, which stay one option away
    image_size: tuple[int, int] = option(
        (128, 128), "model input (height, width) in pixels (paper: 256; 128 trained far better on our data)"
    )
    channels: int = option(16, "base width C of the encoder (paper: 16); features are 16C wide")
    clusters: int = option(12, "hypersphere centres K per branch (paper: 12)")
    alpha: float = option(1.0, "degrees of freedom of the Student-t cluster assignment (paper: 1)")
    epochs: int = option(150, "passes over the good images (each step sees fresh synthetic defects)")
    batch_size: int = option(16, "images per training step (paper: 16)")
    lr: float = option(1e-4, "Adam learning rate (paper: 1e-4)")
    max_seconds: float = option(0.0, "stop training after this many seconds (0 = run all epochs/steps)")
    majority_weight: float = option(0.1, "BCE weight λ1 of each image's majority class (paper: 0.1)")
    weight_z: float = option(0.01, "weight of the texture/defect feature orthogonality loss L_z")
    weight_kl: float = option(0.01, "weight of the hypersphere clustering loss L_kl")
    weight_td: float = option(0.01, "weight of the texture/defect centre separation loss L_td")
    defect_weight: float = option(0.5, "λ_f: share of the defect head in the map (rest: 1 - texture head)")
    median_kernel: int = option(5, "median filter of the anomaly map, px at model input (odd; 1 = off)")
    p_anomaly: float = option(0.9, "share of training images that get a synthetic defect")
    fills: str = option(
        "noise,shift,foreign",
        "synthetic defect fills, comma list of noise, shift, foreign, procedural, shade, band (paper: noise)",
    )
    blend_max: float = option(0.5, "max share of the good image kept inside a defect (paper: 0, replace)")
    flip: bool = option(True, "random horizontal/vertical flips of the good images")
    workers: int = option(
        -1,
        "worker processes that synthesise batches ahead (-1 = auto: all cores but two, ≤ 12, on a GPU; 0 on CPU)",
    )
    amp: bool = option(
        False, "bfloat16 autocast on CUDA (CPU always runs float32); off: fp32 trained better and runs faster"
    )

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SIDNConfig:
        """Also reads model.json files saved before the time box was renamed to `max_seconds`."""
        d = dict(d)
        if "max_minutes" in d:
            d.setdefault("max_seconds", d.pop("max_minutes") * 60)
        return super().from_dict(d)  # type: ignore[return-value]


@register_model(
    "sidn",
    "segments synthetic defects directly; grayscale, ~4 M params, the CPU-station model",
    paper="Yang et al., IEEE TII 2023 (SIDN)",
)
class SIDN(AnomalyModel):
    Config = SIDNConfig
    version = 1
    # replayed from CUDA graphs on a GPU: batch 1 0.86 ms vs 3.2 ms eager, maps identical on fresh
    # inputs (H200, docs/results.md)
    graph_safe = True

    def __init__(self, config: SIDNConfig | None = None) -> None:
        super().__init__(config)
        cfg: SIDNConfig = self.config  # type: ignore[assignment]
        if cfg.channels < 1 or cfg.clusters < 1:
            raise AoiError("sidn: channels and clusters must be ≥ 1")
        if cfg.median_kernel < 1 or cfg.median_kernel % 2 == 0:
            raise AoiError(f"sidn: median_kernel must be a positive odd number, got {cfg.median_kernel}")
        c, dim = cfg.channels, 16 * cfg.channels
        self.fem = FEM(c)
        self.texture_branch = FSEMBranch(c)
        self.defect_branch = FSEMBranch(c)
        self.texture_centres = nn.Parameter(torch.randn(cfg.clusters, dim) * 0.1)
        self.defect_centres = nn.Parameter(torch.randn(cfg.clusters, dim) * 0.1)
        self.texture_gsrm = GSRM(dim)
        self.defect_gsrm = GSRM(dim)
        self.texture_head = SegHead(c)
        self.defect_head = SegHead(c)
        # hypersphere radii (eq. 14), running averages over training batches; saved for diagnostics
        self.register_buffer("texture_radii", torch.zeros(cfg.clusters))
        self.register_buffer("defect_radii", torch.zeros(cfg.clusters))
        self.train_info: dict[str, Any] = {}
        self.history: list[dict[str, float]] = []  # per-step losses of the last fit (not saved)
        # channels-last convolutions are ~25 % faster on CPU (oneDNN) and what cuDNN prefers for bf16
        self.to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Gray (N, 1, H, W) in [0, 1] → features Z_t, Z_d and texture/defect logits at (H, W)."""
        h, w = x.shape[-2:]
        ph, pw = (-h) % STRIDE, (-w) % STRIDE
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="replicate")
        z = self.fem(((x - 0.5) / 0.25).contiguous(memory_format=torch.channels_last))
        zt, zd = self.texture_branch(z), self.defect_branch(z)
        lt = self.texture_head(self.texture_gsrm(zt, self.texture_centres))
        ld = self.defect_head(self.defect_gsrm(zd, self.defect_centres))
        return {"zt": zt, "zd": zd, "logit_t": lt[..., :h, :w], "logit_d": ld[..., :h, :w]}

    def combine(self, logit_t: torch.Tensor, logit_d: torch.Tensor) -> torch.Tensor:
        """I_s = (1 - λ_f)(1 - I_s^t) + λ_f·I_s^d (both heads' probabilities, float32)."""
        lf = float(self.config.defect_weight)  # type: ignore[attr-defined]
        return (1 - lf) * (1 - torch.sigmoid(logit_t.float())) + lf * torch.sigmoid(logit_d.float())

    def fit(self, images: torch.Tensor, ctx: FitContext) -> None:
        from inspection_core.models.sidn import train  # the training stack loads only when it trains

        train.fit(self, images, ctx)

    @torch.no_grad()
    def predict(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        cfg: SIDNConfig = self.config  # type: ignore[assignment]
        x = to_gray(batch.float())
        use_amp = cfg.amp and x.device.type == "cuda"
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_amp, cache_enabled=False):
            out = self.forward(x)
        amap = median_filter(self.combine(out["logit_t"], out["logit_d"]), cfg.median_kernel)[:, 0]
        return amap, amap.flatten(1).max(1).values

    def extra_state(self) -> dict[str, Any]:
        return dict(self.train_info)

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.train_info = dict(state)
