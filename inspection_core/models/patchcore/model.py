"""The default model: PatchCore on pretrained EfficientNet-Lite0 features.

Locally aggregated multi-scale patch features → memory bank of good patches reduced by greedy
coreset → anomaly map = distance of each test patch to its nearest good patch. No training loop,
so it fits in seconds on a GPU (Roth et al., "Towards Total Recall in Industrial Anomaly Detection").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from inspection_core.models.backbones import EfficientNetLite0Features
from inspection_core.models.base import AnomalyModel, ModelConfig, option
from inspection_core.models.layers import gaussian_blur, resize_blur
from inspection_core.models.patchcore.coreset import greedy_coreset
from inspection_core.models.registry import Preset, register_model
from inspection_core.runtime.context import FitContext


@dataclass
class PatchCoreConfig(ModelConfig):
    """Defaults = the textbook floor (`plain`) plus the changes that held on every data set of the
    development suite at 8, 16, 32 shots and full data: a score bank that adds the deep block 14, scored
    by the mean of its 10 highest patch distances on the patch grid averaged over 2×2 cells (+0.010 to
    +0.014 mean image AUROC over every patch; 4×4 scored higher still but dilutes the smallest defects
    16-fold), a coreset of 2,000 (1,000 failed), beside the textbook map bank (blocks 4 + 10, coreset
    4,000: at 2,000 magnetic tile's pixel AUROC fell 0.02-0.03 in two of three runs). Every other
    departure from the textbook lost somewhere (the ablation is in docs/results.md)."""

    blocks: tuple[int, ...] = option(
        (4, 10, 14), "EfficientNet-Lite0 block outputs to use (0-15; 4=stride 8, 10=stride 16, 14=stride 32)"
    )
    aggregation: int = option(
        3, "neighbourhood (px of the feature map) averaged into each patch feature (the image score's bank)"
    )
    coreset_size: int = option(
        2000,
        "patches kept in the score bank (more = slower; 2,000 held the suite rule like 4,000 at half the "
        "search, 1,000 did not)",
    )
    map_coreset_size: int = option(
        4000,
        "patches kept in the map bank (0 = --coreset-size): the map keeps the textbook 4,000, since 2,000 "
        "cost magnetic tile 0.02-0.03 pixel AUROC in two of three runs",
    )
    max_patches: int = option(
        0,
        "random subsample of patches before the coreset, bounds fit time (0 = auto: 1M on GPU, 100k on CPU; "
        "-1 = every patch)",
    )
    projection_dim: int = option(
        0, "random projection dims for coreset selection only (0 = auto: 128 GPU, 32 CPU)"
    )
    smoothing_sigma: float = option(4.0, "Gaussian smoothing of the anomaly map, px at model input size")
    wide_sigma: float = option(
        0.0,
        "a second, wider smoothing; the map is the pixelwise max of both, so large low-contrast defects "
        "rise above the good level without blurring small ones (0 = off)",
    )
    batch_size: int = option(32, "images per feature-extraction batch")
    flip_augment: bool = option(False, "also store features of flipped good images (more normal variation)")
    intensity_norm: bool = option(False, "standardise each image's brightness and contrast before features")
    score_topk: int = option(10, "image score = mean of the k highest patch distances (1 = max)")
    score_stride: int = option(
        2,
        "the score bank sees the patch grid averaged over s×s cells (1 = every patch): s² times less "
        "search for the image score; the map keeps every patch",
    )
    score_from: str = option(
        "patches",
        "image score from 'patches' (top-k of the raw patch distances, see --score-topk) or 'map' (the "
        "peak of the score bank's distances upsampled and smoothed like the anomaly map, as textbook "
        "PatchCore)",
    )
    map_blocks: tuple[int, ...] = option(
        (4, 10),
        "blocks (a subset of --blocks) for a second memory bank that draws the anomaly map; the image score "
        "keeps all blocks (deep blocks help detection but blur localisation). Empty = one bank for both",
    )
    map_aggregation: int = option(
        0,
        "neighbourhood for the map bank's features (0 = same as --aggregation): a small one keeps small "
        "defects sharp in the map while the image score keeps a wide one",
    )
    feature_dim: int = option(
        0,
        "PCA-reduce patch features to this many dims before the memory bank (0 = keep all; fewer = faster)",
    )
    map_feature_dim: int = option(
        0,
        "PCA dims of the map bank alone (0 = as --feature-dim, -1 = keep all): the map bank's search is the "
        "largest share of a CPU frame",
    )
    half_precision: bool = option(
        True, "run the backbone in float16 on a GPU (the memory-bound part of a frame; CPU: float32)"
    )

    # models saved before --map-aggregation existed drew the map with --aggregation
    saved_defaults: ClassVar[dict[str, Any]] = {
        "map_aggregation": 0,
        "wide_sigma": 0.0,
        "half_precision": False,  # banks built from float32 features
        "score_stride": 1,
        "map_coreset_size": 0,  # one size for both banks
        "map_feature_dim": 0,  # as feature_dim
    }


SCORE_FROM = ("patches", "map")

# Textbook PatchCore (Roth et al.) on the same backbone: the floor every default must hold against on
# the development suite. Blocks 4 + 10, 3×3 averaging, one bank of every patch of every good image
# (no subsample, no PCA), greedy coreset of 4,000 chosen in a 128-d random projection, Gaussian σ = 4,
# image score = peak of the smoothed, upsampled map; no intensity standardisation, no second map bank,
# no wide smoothing.
PLAIN_OPTIONS: dict[str, Any] = {
    "blocks": (4, 10),
    "aggregation": 3,
    "coreset_size": 4000,
    "max_patches": -1,
    "projection_dim": 128,
    "smoothing_sigma": 4.0,
    "wide_sigma": 0.0,
    "flip_augment": False,
    "intensity_norm": False,
    "score_topk": 1,
    "score_from": "map",
    "map_blocks": (),
    "map_aggregation": 0,
    "feature_dim": 0,
    "half_precision": False,
    "score_stride": 1,
    "map_coreset_size": 0,
    "map_feature_dim": 0,
}
PRESETS = {
    "plain": Preset(
        "textbook PatchCore: blocks 4+10, 3x3 averaging, every patch of every good image into a 4,000 "
        "coreset, sigma 4, score = peak of the map",
        PLAIN_OPTIONS,
        holdout=0.0,
    )
}


def standardise(x: torch.Tensor, target_mean: float = 0.5, target_std: float = 0.2) -> torch.Tensor:
    """Per-image brightness/contrast normalisation: lighting drift between batches stops looking anomalous."""
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    std = x.std(dim=(1, 2, 3), keepdim=True).clamp_min(1e-3)
    return ((x - mean) / std * target_std + target_mean).clamp(0, 1)


def _pooled(feats: list[torch.Tensor], k: int, size: torch.Size) -> list[torch.Tensor]:
    """Local aggregation (k×k mean, borders averaged over the valid part) at the finest grid `size`."""
    if k > 1:
        feats = [F.avg_pool2d(f, k, stride=1, padding=k // 2, count_include_pad=False) for f in feats]
    return [
        f if f.shape[-2:] == size else F.interpolate(f, size=size, mode="bilinear", align_corners=False)
        for f in feats
    ]


class MemoryBank(torch.nn.Module):
    """Good patch features reduced by PCA and a greedy coreset, and nearest-neighbour distances to them."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.register_buffer("memory_bank", torch.zeros(0, dim))
        # PCA fitted on good patches (empty when not reduced): q = (f - mean) @ components
        self.register_buffer("pca_mean", torch.zeros(0))
        self.register_buffer("pca_components", torch.zeros(0, 0))

    @property
    def fitted(self) -> bool:
        return self.memory_bank.shape[0] > 0

    def fit(
        self,
        feats: torch.Tensor,
        dim: int,
        projection: int,
        ctx: FitContext,
        stage: str,
        size: int,
    ) -> None:
        """Keep `size` good patches (greedy coreset), in `dim` PCA dims when 0 < dim < D."""
        if 0 < dim < feats.shape[1]:
            mean = feats.mean(0)
            cov = torch.cov((feats - mean).T)
            _, vecs = torch.linalg.eigh(cov)  # ascending eigenvalues
            self.pca_mean = mean.contiguous()
            self.pca_components = vecs[:, -dim:].flip(1).contiguous()
            feats = self.reduce(feats)
        ctx.report(stage, 0, size, "selecting memory bank")  # the stage shows (and a cancel lands) at once
        idx = greedy_coreset(
            feats,
            size,
            projection,
            ctx.seed,
            progress=lambda k, t: ctx.report(stage, k, t, "selecting memory bank"),
        )
        self.memory_bank = feats[idx].contiguous()

    def reduce(self, feats: torch.Tensor) -> torch.Tensor:
        """Project (M, D) patch features with the fitted PCA (identity when none was fitted)."""
        if self.pca_components.numel() == 0:
            return feats
        return (feats - self.pca_mean) @ self.pca_components

    def distance(self, q: torch.Tensor, chunk: int = 0) -> torch.Tensor:
        """Euclidean distance of each row of q (M, D) to its nearest memory-bank row.

        ‖q - m‖² = ‖q‖² + (‖m‖² - 2 q·m): the bracket is one fused addmm and the row minimum is taken
        before ‖q‖² is added, so the (M × bank) matrix is written once and read once (memory-bound on CPU).
        Rows go in chunks (0 = auto): 2,048 on a CPU (stays in cache); on a GPU as many as keep the
        distance block near 2^26 floats (256 MB), so a batch is a few large launches, not dozens.
        """
        q = self.reduce(q)
        mb = self.memory_bank
        mb_sq = (mb * mb).sum(1)
        if torch.onnx.is_in_onnx_export():  # one block: a traced loop would bake this batch's row count in
            d = torch.addmm(mb_sq, q, mb.T, beta=1.0, alpha=-2.0).amin(1) + (q * q).sum(1)
            return d.clamp_min(0).sqrt()
        if chunk <= 0:
            chunk = max(2048, (1 << 26) // max(1, mb.shape[0])) if q.is_cuda else 2048
        if q.is_cuda:
            return self._distance_tf32(q, mb, mb_sq, chunk)
        out = []
        for s in range(0, q.shape[0], chunk):
            qc = q[s : s + chunk]
            d = torch.addmm(mb_sq, qc, mb.T, beta=1.0, alpha=-2.0).amin(1)
            out.append(d + (qc * qc).sum(1))
        return torch.cat(out).clamp_min_(0).sqrt_()

    @staticmethod
    def _distance_tf32(q: torch.Tensor, mb: torch.Tensor, mb_sq: torch.Tensor, chunk: int) -> torch.Tensor:
        """The GPU search: TF32 tensor cores pick each row's nearest bank row (the product was the
        largest share of a tiled 5-MP frame on an H100 in float32), then that row's distance is computed
        exactly as ‖q - m‖ in float32, free of the expansion's cancellation. Only a near-tie can pick
        another row, whose distance is then within TF32 rounding of the nearest one's."""
        prev = torch.backends.cuda.matmul.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = True
        try:
            out = []
            for s in range(0, q.shape[0], chunk):
                qc = q[s : s + chunk]
                idx = torch.addmm(mb_sq, qc, mb.T, beta=1.0, alpha=-2.0).argmin(1)
                out.append((qc - mb.index_select(0, idx)).pow_(2).sum(1))
        finally:
            torch.backends.cuda.matmul.allow_tf32 = prev
        return torch.cat(out).sqrt_()


@register_model(
    "patchcore",
    "pretrained EfficientNet-Lite0 features + coreset memory bank; fits in seconds",
    fast=True,
    paper="Roth et al., CVPR 2022",
    presets=PRESETS,
)
class PatchCore(AnomalyModel):
    Config = PatchCoreConfig
    version = 2  # 2: memory banks as submodules (score bank + optional map bank)
    pretrained_prefixes = ("backbone.",)
    graph_safe = True
    # its graphs are light (a small backbone): tile batches of 64 and a whole 5-MP frame replay too
    graph_max_pixels = 128 * 256 * 256
    any_size = True  # a CNN, per-patch nearest neighbours and blurs: any H × W

    def __init__(self, config: PatchCoreConfig | None = None) -> None:
        super().__init__(config)
        cfg: PatchCoreConfig = self.config  # type: ignore[assignment]
        self.backbone = EfficientNetLite0Features(
            cfg.blocks, nhwc_on_cuda=True, fuse_bn=True, half_on_cuda=cfg.half_precision
        )
        self.bank = MemoryBank(sum(self.backbone.channels))
        if cfg.score_from not in SCORE_FROM:
            raise ValueError(f"score_from must be one of {', '.join(SCORE_FROM)}, not {cfg.score_from!r}")
        bad = set(cfg.map_blocks) - set(self.backbone.blocks_out)
        if bad:
            raise ValueError(
                f"map_blocks {sorted(bad)} are not among blocks {list(self.backbone.blocks_out)}"
            )
        # channel slice of the concatenated features that the map bank sees
        offsets, start = {}, 0
        for b, c in zip(self.backbone.blocks_out, self.backbone.channels, strict=True):
            offsets[b] = (start, start + c)
            start += c
        self._dim = start  # channels of the score bank; embed() may append the map bank's own after them
        use_map_bank = bool(cfg.map_blocks) and (
            set(cfg.map_blocks) != set(self.backbone.blocks_out) or self._own_map_aggregation
        )
        if use_map_bank and self._own_map_aggregation:
            n_map = sum(offsets[b][1] - offsets[b][0] for b in cfg.map_blocks)
            self._map_channels = list(range(start, start + n_map))
        else:
            self._map_channels = [i for b in sorted(cfg.map_blocks) for i in range(*offsets[b])]
        self.map_bank = MemoryBank(len(self._map_channels)) if use_map_bank else None
        # the same channels as a device tensor: indexing with a Python list would copy it to the GPU on
        # every call (a sync, and it breaks CUDA-graph capture); not saved with the model
        self.register_buffer(
            "_map_index", torch.tensor(self._map_channels, dtype=torch.long), persistent=False
        )

    @property
    def feature_stride(self) -> int:
        return min(self.backbone.strides)

    @property
    def _own_map_aggregation(self) -> bool:
        cfg: PatchCoreConfig = self.config  # type: ignore[assignment]
        return bool(cfg.map_blocks) and cfg.map_aggregation > 0 and cfg.map_aggregation != cfg.aggregation

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) → (N, D, h, w) patch features at the finest selected stride; with its own map
        aggregation, the map blocks pooled that way follow as extra channels (see _map_channels)."""
        cfg: PatchCoreConfig = self.config  # type: ignore[assignment]
        if cfg.intensity_norm:
            x = standardise(x)
        raw = self.backbone(x)
        size = raw[0].shape[-2:]
        out = _pooled(raw, cfg.aggregation, size)
        if self.map_bank is not None and self._own_map_aggregation:
            sel = [f for b, f in zip(self.backbone.blocks_out, raw, strict=True) if b in cfg.map_blocks]
            out += _pooled(sel, cfg.map_aggregation, size)
        return torch.cat(out, 1)

    def _map_embed(self, x: torch.Tensor) -> torch.Tensor:
        """Only the map bank's features (the channels _map_index picks from `embed`), running the
        backbone no deeper than the deepest map block: what a whole-frame pass needs."""
        cfg: PatchCoreConfig = self.config  # type: ignore[assignment]
        if cfg.intensity_norm:
            x = standardise(x)
        raw = self.backbone(x, upto=max(cfg.map_blocks))
        size = raw[0].shape[-2:]
        sel = [f for b, f in zip(self.backbone.blocks_out, raw, strict=False) if b in cfg.map_blocks]
        k = cfg.map_aggregation if self._own_map_aggregation else cfg.aggregation
        return torch.cat(_pooled(sel, k, size), 1)

    @torch.no_grad()
    def fit(self, images: torch.Tensor, ctx: FitContext) -> None:
        cfg: PatchCoreConfig = self.config  # type: ignore[assignment]
        self.to(ctx.device).eval()
        n = len(images)
        g = torch.Generator(device="cpu").manual_seed(ctx.seed)
        on_gpu = ctx.device.type == "cuda"
        max_patches = cfg.max_patches or (1_000_000 if on_gpu else 100_000)
        if max_patches < 0:  # every patch
            max_patches = 1 << 62
        proj = cfg.projection_dim or (128 if on_gpu else 32)
        score_chunks: list[torch.Tensor] = []
        map_chunks: list[torch.Tensor] = []
        for i in range(0, n, cfg.batch_size):
            x = images[i : i + cfg.batch_size].to(ctx.device, non_blocking=True)
            views = [x, x.flip(-1), x.flip(-2)] if cfg.flip_augment else [x]
            for v in views:
                emb = self.embed(v)
                grids = [(score_chunks, self._score_grid(emb))]
                if self.map_bank is not None:
                    grids.append((map_chunks, emb.index_select(1, self._map_index)))
                for out, t in grids:
                    f = t.permute(0, 2, 3, 1).reshape(-1, t.shape[1])
                    # subsample as we go: memory stays bounded for any number of images
                    keep = max_patches * f.shape[0] // max(1, n * len(views) * t.shape[2] * t.shape[3])
                    if keep < f.shape[0]:
                        f = f[torch.randperm(f.shape[0], generator=g)[: max(1, keep)].to(f.device)]
                    out.append(f.contiguous())
            ctx.report("features", min(n, i + cfg.batch_size), n, "extracting features")
        self.bank.fit(torch.cat(score_chunks), cfg.feature_dim, proj, ctx, "coreset", cfg.coreset_size)
        del score_chunks
        if self.map_bank is not None:
            size = cfg.map_coreset_size or cfg.coreset_size
            dim = cfg.map_feature_dim or cfg.feature_dim
            self.map_bank.fit(torch.cat(map_chunks), dim, proj, ctx, "map coreset", size)

    def _score_grid(self, emb: torch.Tensor) -> torch.Tensor:
        """The score bank's features (N, D, h', w'): its channels of `embed`, averaged over
        score_stride² cells (a partial cell at the edge averages what it has)."""
        cfg: PatchCoreConfig = self.config  # type: ignore[assignment]
        f = emb[:, : self._dim]
        if cfg.score_stride <= 1:
            return f
        return F.avg_pool2d(f, cfg.score_stride, stride=cfg.score_stride, ceil_mode=True)

    @torch.no_grad()
    def predict(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.bank.fitted:
            raise RuntimeError("PatchCore is not fitted")
        cfg: PatchCoreConfig = self.config  # type: ignore[assignment]
        n, _, h, w = batch.shape
        emb = self.embed(batch)
        fh, fw = emb.shape[-2:]
        sg = self._score_grid(emb)
        sh, sw = sg.shape[-2:]
        dist = self.bank.distance(sg.permute(0, 2, 3, 1).reshape(-1, self._dim)).view(n, sh * sw)
        if cfg.score_from == "map":
            # the score bank's distances drawn as a map (upsampled, smoothed) and its peak taken: a lone
            # noisy patch weighs less than in the raw top-k
            amap = self._map(dist.view(n, 1, sh, sw), (h, w))
            scores = amap.flatten(1).amax(1)
            if self.map_bank is None:
                return amap, scores
        else:
            k = max(1, min(cfg.score_topk, dist.shape[1]))
            scores = dist.max(1).values if k == 1 else dist.topk(k, dim=1).values.mean(1)
        if self.map_bank is None:  # one bank: the map is the score bank's distances
            return self._map(dist.view(n, 1, sh, sw), (h, w)), scores
        mq = emb.index_select(1, self._map_index).permute(0, 2, 3, 1).reshape(-1, len(self._map_channels))
        return self._map(self.map_bank.distance(mq).view(n, 1, fh, fw), (h, w)), scores

    @torch.no_grad()
    def predict_frame(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The map alone, from the map bank's blocks only (the score bank, and the backbone past the
        deepest map block, are skipped); the score is the map's peak. Same map as `predict`."""
        if self.map_bank is None:
            return super().predict_frame(batch)
        if not self.map_bank.fitted:
            raise RuntimeError("PatchCore is not fitted")
        n, _, h, w = batch.shape
        emb = self._map_embed(batch)
        _, d, fh, fw = emb.shape
        dist = self.map_bank.distance(emb.permute(0, 2, 3, 1).reshape(-1, d))
        amap = self._map(dist.view(n, 1, fh, fw), (h, w))
        return amap, amap.flatten(1).amax(1)

    def _map(self, low: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """Patch distances (N, 1, fh, fw) → the anomaly map (N, H, W): upsampled, smoothed."""
        cfg: PatchCoreConfig = self.config  # type: ignore[assignment]
        h, w = size
        fh = low.shape[-2]
        amap = resize_blur(low, (h, w), cfg.smoothing_sigma)
        if cfg.wide_sigma > 0:
            # the wide smoothing runs at feature resolution and is upsampled after: a 193-tap kernel at
            # input size would cost the 2-core CPU milliseconds per image, and at this width they agree
            wide = gaussian_blur(low, cfg.wide_sigma * fh / h)
            wide = F.interpolate(wide, size=(h, w), mode="bilinear", align_corners=False)
            amap = torch.maximum(amap, wide)
        return amap[:, 0]
