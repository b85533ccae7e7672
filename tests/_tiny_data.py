"""Tiny generated data sets and models for the calibration/recipe tests (no real data set needed)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from inspection_core.data.imageio import imwrite
from inspection_core.types import Defect, InspectionResult, Verdict

SIZE = 64


def texture(rng: np.random.Generator, size: int = SIZE) -> np.ndarray:
    """A grey, finely textured surface (uint8) — every sample different, all 'good'."""
    base = rng.normal(128, 18, (size, size)).astype(np.float32)
    base = cv2.GaussianBlur(base, (0, 0), 1.0)
    return np.clip(base, 0, 255).astype(np.uint8)


def defective(rng: np.random.Generator, size: int = SIZE) -> tuple[np.ndarray, np.ndarray]:
    """A textured image with one dark scratch-like blob, and its bool mask."""
    img = texture(rng, size)
    mask = np.zeros((size, size), np.uint8)
    cx, cy = (int(v) for v in rng.integers(16, size - 16, 2))
    cv2.ellipse(mask, (cx, cy), (9, 4), float(rng.uniform(0, 180)), 0, 360, 1, -1)
    img = img.copy()
    img[mask > 0] = 20
    return img, mask.astype(bool)


def write_mvtec(root: Path, n_train: int = 10, n_good: int = 4, n_bad: int = 4, seed: int = 0) -> Path:
    """train/good, test/good, test/crack, ground_truth/crack/<stem>_mask.png."""
    rng = np.random.default_rng(seed)
    for i in range(n_train):
        imwrite(root / "train" / "good" / f"{i:03d}.png", texture(rng))
    for i in range(n_good):
        imwrite(root / "test" / "good" / f"{i:03d}.png", texture(rng))
    for i in range(n_bad):
        img, m = defective(rng)
        imwrite(root / "test" / "crack" / f"{i:03d}.png", img)
        imwrite(root / "ground_truth" / "crack" / f"{i:03d}_mask.png", m)
    return root


def train_tiny(images: list[np.ndarray] | None = None, seed: int = 0):  # noqa: ANN201 - ModelBundle
    """A PatchCore bundle on 64-px textures; fits in about a second on one CPU thread."""
    from inspection_core.training.fit import train_model

    if images is None:
        rng = np.random.default_rng(seed + 100)
        images = [texture(rng) for _ in range(10)]
    return train_model(
        "patchcore", images, holdout=0.3, options={"image_size": (SIZE, SIZE), "coreset_size": 200}
    )


def inspection_result(fid: int, area: int | None, ng: bool | None = None) -> InspectionResult:
    """A small InspectionResult for record tests: NG with one defect of `area` px when area is given
    (or when `ng` says so without a region)."""
    ng = area is not None if ng is None else ng
    defects = (Defect(1, (2, 3, 10, 12), area, (6.0, 7.0), 0.9, 0.7),) if area else ()
    return InspectionResult(
        frame_id=fid,
        anomaly_map=np.zeros((16, 16), np.float32),
        score=0.8 if ng else 0.1,
        verdict=Verdict.NG if ng else Verdict.OK,
        mask=np.zeros((16, 16), bool),
        defects=defects,
        model_name="patchcore",
    )
