"""A model's raw maps and scores for many images, batch by batch: the one batching loop behind
`Inspector` (frames → model input) and a model's own calibration of its members (fusion)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

Predict = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


@torch.inference_mode()
def predict_tensor(
    model: Any,
    images: torch.Tensor | np.ndarray,
    batch_size: int = 32,
    predict: Predict | None = None,
    channels_last: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Raw maps (N, h, w) and scores (N,) as float32 numpy for (N, 3, H, W) images on any device.

    predict: what runs a batch (default `model.predict`; the Inspector passes `ModelBundle.predict`,
    which replays CUDA graphs). channels_last: `images` is a (N, H, W, 3) numpy array, transposed one
    batch at a time so a large set is never copied whole.
    """
    run = predict or model.predict
    dev = model.device
    step = max(1, int(batch_size))
    maps, scores = [], []
    for i in range(0, len(images), step):
        chunk = images[i : i + step]
        if channels_last:
            chunk = torch.from_numpy(np.ascontiguousarray(np.asarray(chunk).transpose(0, 3, 1, 2)))
        m, s = run(chunk.to(dev))
        maps.append(m.float().cpu().numpy())
        scores.append(s.float().cpu().numpy())
    return np.concatenate(maps), np.concatenate(scores)
