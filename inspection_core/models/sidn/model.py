"""SIDN: semantic information decomposition network (Yang, Hu, Yin, Wang, IEEE TII 2023).

Segments defects directly instead of reconstructing the background. Grayscale in; a shared encoder
(FEM) → two branches that split texture and defect semantics (FSEM) → a cluster-centre relation module
per branch (GSRM) → two segmentation heads (SM): texture probability and defect probability. The
anomaly map is I_s = (1 - λ_f)(1 - I_s^t) + λ_f·I_s^d, median filtered; the image score is its max.
Small (about 4 M parameters) so it runs on CPU-only stations. The training loop lives in train.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from inspection_core.errors import AoiError
from inspection_core.models.base import AnomalyModel, ModelConfig, option
from inspection_core.models.registry import register_model
from inspection_core.runtime.context import FitContext

STRIDE = 16  # total downsampling of the FSEM features; inputs are padded to a multiple of it
LUMA = (0.299, 0.587, 0.114)


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


def _bn_act(c: int) -> nn.Sequential:
    return nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(inplace=True))


class ResBlock(nn.Module):
    """Basic 3×3 residual block (He et al.) with a ResNet-D shortcut (2×2 average pool, then 1×1 conv)
    when the shape changes. Besides keeping all pixels, this avoids a strided 1×1 convolution, whose
    channels-last backward pass crashes (segfault) in torch 2.13 on CPU."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.short: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            pool: nn.Module = nn.AvgPool2d(stride, ceil_mode=True) if stride > 1 else nn.Identity()
            self.short = nn.Sequential(pool, nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)), inplace=True)
        y = self.bn2(self.conv2(y))
        return F.relu(y + self.short(x), inplace=True)


class FEM(nn.Module):
    """Feature extraction: conv + residual block (C), then residual blocks stride 2 and 1 (2C) → H/2."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, c, 3, 1, 1, bias=False), _bn_act(c))
        self.blocks = nn.Sequential(ResBlock(c, c), ResBlock(c, 2 * c, 2), ResBlock(2 * c, 2 * c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.stem(x))


class FSEMBranch(nn.Module):
    """One FSEM branch: 2C at H/2 → 16C at H/16, ending in a linear 1×1 so features are signed
    (orthogonality and clustering need features that are not confined to the positive orthant)."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.blocks = nn.Sequential(
            ResBlock(2 * c, 4 * c, 2), ResBlock(4 * c, 8 * c, 2), ResBlock(8 * c, 16 * c, 2)
        )
        self.proj = nn.Conv2d(16 * c, 16 * c, 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.proj(self.blocks(z))


class GSRM(nn.Module):
    """Global semantic relation: Z' = V + reshape(softmax(K'Cᵀ/√D)·C) against the K cluster centres.

    Relating every position to K centres costs O(N·K) instead of self-attention's O(N²).
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.key = nn.Conv2d(dim, dim, 1)
        self.value = nn.Conv2d(dim, dim, 1)
        self.scale = 1.0 / math.sqrt(dim)

    def forward(self, z: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
        n, d, h, w = z.shape
        k = self.key(z).flatten(2).transpose(1, 2)  # (N, hw, D)
        c = centres.to(k.dtype)
        m = torch.softmax((k @ c.T) * self.scale, dim=-1)  # (N, hw, K)
        rel = (m @ c).transpose(1, 2).reshape(n, d, h, w)
        return self.value(z) + rel


class SegHead(nn.Module):
    """SM: four stride-2 deconvolution blocks (16C → C) and a last deconvolution to one logit map."""

    def __init__(self, c: int) -> None:
        super().__init__()
        chans = [16 * c, 8 * c, 4 * c, 2 * c, c]
        layers: list[nn.Module] = []
        for cin, cout in zip(chans[:-1], chans[1:], strict=True):
            layers += [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), _bn_act(cout)]
        layers.append(nn.ConvTranspose2d(c, 1, 3, 1, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


def to_gray(x: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) RGB in [0, 1] → (N, 1, H, W) luma; one-channel input passes through."""
    if x.shape[1] == 1:
        return x
    # Python-scalar weights: no host→device copy, so predict can be captured as a CUDA graph
    return LUMA[0] * x[:, 0:1] + LUMA[1] * x[:, 1:2] + LUMA[2] * x[:, 2:3]


def median_filter(x: torch.Tensor, k: int) -> torch.Tensor:
    """k×k median of (N, 1, H, W) float maps with replicated borders.

    On CPU, OpenCV's float median (k ≤ 5 only) is ~80× faster than the unfold+median used elsewhere.
    """
    if k <= 1:
        return x
    n, c, h, w = x.shape
    if x.device.type == "cpu" and k <= 5:
        a = x.detach().float().reshape(n * c, h, w).numpy()
        out = np.stack([cv2.medianBlur(np.ascontiguousarray(m), k) for m in a])
        return torch.from_numpy(out).view(n, c, h, w)
    r = k // 2
    xp = F.pad(x, (r, r, r, r), mode="replicate")
    cols = F.unfold(xp, k)  # (N, C·k², H·W)
    return cols.view(n, c, k * k, h * w).median(2).values.view(n, c, h, w)


@register_model(
    "sidn",
    "segments synthetic defects directly; grayscale, ~4 M params, the CPU-station model",
    paper="Yang et al., IEEE TII 2023 (SIDN)",
)
class SIDN(AnomalyModel):
    Config = SIDNConfig
    version = 1
    # replayed from CUDA graphs on a GPU: batch 1 0.86 ms vs 3.2 ms eager, maps identical on fresh
    # inputs (graph_check_h200_s4.json)
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
        from inspection_core.models.sidn.train import fit_sidn

        fit_sidn(self, images, ctx)

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
