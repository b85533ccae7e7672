"""NDP-Net building blocks (pure torch): encoder, RBAM (RBFRM + FFM), decoder, MSDSM, mean filter.

Shapes at input H×W (H, W multiples of 16; the model pads other sizes): encoder layer l = 1…5 has
`widths[l-1]` channels at stride 2**(l-1), i.e. Φ1 full resolution … Φ5 at 1/16.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

RBAM_LAYERS = (3, 4, 5)  # 1-based encoder layers that get reference attention (paper: l = 3…5)


def conv_block(c_in: int, c_out: int, k: int = 3) -> nn.Sequential:
    """Two conv-BN-ReLU layers: the unit of every encoder/decoder stage."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, k, padding=k // 2, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, k, padding=k // 2, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class Encoder(nn.Module):
    """Five layers Φ1…Φ5; each after the first halves the resolution (max-pool) before its block."""

    def __init__(self, widths: Sequence[int], in_channels: int = 3) -> None:
        super().__init__()
        if len(widths) != 5:
            raise ValueError("NDP-Net's encoder has exactly five layers")
        chans = [in_channels, *widths]
        self.layers = nn.ModuleList(conv_block(chans[i], chans[i + 1]) for i in range(5))

    def forward(self, x: torch.Tensor, depth: int = 5) -> list[torch.Tensor]:
        """Features of the first `depth` layers (MSDSM needs only three)."""
        feats = []
        for i, layer in enumerate(self.layers[:depth]):
            if i:
                x = F.max_pool2d(x, 2)
            x = layer(x)
            feats.append(x)
        return feats


def _pad_to(x: torch.Tensor, k: int) -> tuple[torch.Tensor, int, int]:
    h, w = x.shape[-2:]
    ph, pw = (-h) % k, (-w) % k
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="replicate")
    return x, h, w


class RBFRM(nn.Module):
    """Reference-based feature reconstruction: rebuild each K×K patch of the input from reference patches.

    Every input patch (a C·K·K vector) is compared with every patch of the reference by cosine
    similarity; the softmax of similarity / temperature weights the reference patches that replace it.
    When the input equals the reference each patch finds itself, so the output is the reference.
    """

    def __init__(self, k: int, temperature: float = 0.02) -> None:
        super().__init__()
        if k < 1 or temperature <= 0:
            raise ValueError("RBFRM needs k >= 1 and temperature > 0")
        self.k = k
        self.temperature = temperature

    def forward(self, x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        """x (N, C, H, W), ref (1 or N, C, Hr, Wr) → (N, C, H, W) made only of reference patches."""
        k = self.k
        xp, h, w = _pad_to(x, k)
        rp, _, _ = _pad_to(ref, k)
        q = F.unfold(xp, k, stride=k).transpose(1, 2)  # (N, L, C·k·k)
        r = F.unfold(rp, k, stride=k).transpose(1, 2)  # (1|N, Lr, C·k·k)
        sim = F.normalize(q.float(), dim=-1) @ F.normalize(r.float(), dim=-1).transpose(1, 2)
        attn = torch.softmax(sim / self.temperature, dim=-1).to(r.dtype)
        out = (attn @ r.expand(q.shape[0], -1, -1)).transpose(1, 2)
        out = F.fold(out, xp.shape[-2:], k, stride=k)
        return out[..., :h, :w]


class FFM(nn.Module):
    """Feature fusion (eqs. 6–8): 5×5 conv to 64 ch, three 5×5 convs → 3 maps, softmax, weighted sum."""

    def __init__(self, channels: int, hidden: int = 64) -> None:
        super().__init__()
        self.squeeze = nn.Sequential(nn.Conv2d(3 * channels, hidden, 5, padding=2), nn.ReLU(inplace=True))
        self.heads = nn.ModuleList(nn.Conv2d(hidden, 1, 5, padding=2) for _ in range(3))

    def forward(self, f_ad: torch.Tensor, f_rep2: torch.Tensor, f_rep4: torch.Tensor) -> torch.Tensor:
        z = self.squeeze(torch.cat([f_ad, f_rep2, f_rep4], 1))
        w = torch.softmax(torch.cat([h(z) for h in self.heads], 1), dim=1)
        return w[:, 0:1] * f_ad + w[:, 1:2] * f_rep2 + w[:, 2:3] * f_rep4


class RBAM(nn.Module):
    """Reference-based attention at one encoder layer: RBFRM with K=2 and K=4, fused by FFM."""

    def __init__(self, channels: int, patch_sizes: Sequence[int] = (2, 4), temperature: float = 0.02) -> None:
        super().__init__()
        if len(patch_sizes) != 2:
            raise ValueError("RBAM fuses exactly two patch sizes (the paper's K = 2 and K = 4)")
        self.rbfrm = nn.ModuleList(RBFRM(k, temperature) for k in patch_sizes)
        self.ffm = FFM(channels)

    def forward(self, x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        return self.ffm(x, self.rbfrm[0](x, ref), self.rbfrm[1](x, ref))


class Decoder(nn.Module):
    """U-Net-like decoder from Φ5 up to full resolution, with skips only from layers 3…4 (the repaired
    ones); layers 1–2 are not skipped so defects in shallow features cannot leak into the output."""

    def __init__(self, widths: Sequence[int], out_channels: int = 3) -> None:
        super().__init__()
        w1, w2, w3, w4, w5 = widths
        self.up4 = conv_block(w5 + w4, w4)
        self.up3 = conv_block(w4 + w3, w3)
        self.up2 = conv_block(w3, w2)
        self.up1 = conv_block(w2, w1)
        self.out = nn.Conv2d(w1, out_channels, 1)

    @staticmethod
    def _up(x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)

    def forward(self, f3: torch.Tensor, f4: torch.Tensor, f5: torch.Tensor) -> torch.Tensor:
        x = self.up4(torch.cat([self._up(f5), f4], 1))
        x = self.up3(torch.cat([self._up(x), f3], 1))
        x = self.up2(self._up(x))
        x = self.up1(self._up(x))
        return torch.sigmoid(self.out(x))


class DSM(nn.Module):
    """One small defect segmentation head: concatenated (input, reconstruction) features → logits."""

    def __init__(self, in_channels: int, hidden: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, hidden, 3, padding=1, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, hidden, 3, padding=1, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, 1, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class MSDSM(nn.Module):
    """Multi-scale defect segmentation: DSM1–3 on layers 1–3, fused 0.2·AM1 + 0.2·AM2 + 0.6·AM3."""

    def __init__(self, widths: Sequence[int], weights: Sequence[float] = (0.2, 0.2, 0.6)) -> None:
        super().__init__()
        self.heads = nn.ModuleList(DSM(2 * c) for c in widths[:3])
        self.weights = tuple(float(w) for w in weights)

    def forward(
        self, feats_in: Sequence[torch.Tensor], feats_rec: Sequence[torch.Tensor]
    ) -> list[torch.Tensor]:
        """Logits AM1…AM3 at the resolution of layers 1…3."""
        return [h(torch.cat([a, b], 1)) for h, a, b in zip(self.heads, feats_in, feats_rec, strict=True)]

    def fuse(self, logits: Sequence[torch.Tensor]) -> torch.Tensor:
        """(N, 1, H, W) defect probability at layer-1 (= input) resolution."""
        size = logits[0].shape[-2:]
        out = 0.0
        for w, lg in zip(self.weights, logits, strict=True):
            p = torch.sigmoid(lg.float())
            if p.shape[-2:] != size:
                p = F.interpolate(p, size=size, mode="bilinear", align_corners=False)
            out = out + w * p
        return out  # type: ignore[return-value]


def mean_filter(x: torch.Tensor, k: int = 5) -> torch.Tensor:
    """k×k box filter of (N, 1, H, W) with replicate borders."""
    if k <= 1:
        return x
    return F.avg_pool2d(F.pad(x, (k // 2,) * 4, mode="replicate"), k, stride=1)
