"""A model's raw maps and scores for many images, batch by batch (calibration and validation)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


@torch.inference_mode()
def predict_tensor(model: Any, images: torch.Tensor, batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    maps, scores = [], []
    dev = model.device
    for i in range(0, len(images), batch_size):
        m, s = model.predict(images[i : i + batch_size].to(dev))
        maps.append(m.float().cpu().numpy())
        scores.append(s.float().cpu().numpy())
    return np.concatenate(maps), np.concatenate(scores)
