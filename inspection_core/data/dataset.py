"""Folder datasets in MVTec AD layout: train/good, test/<type>, ground_truth/<type>/<stem>_mask.png.

Also accepts a plain folder of images (all good) so `aoi train --data FOLDER` works on a capture.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inspection_core.data.imageio import IMAGE_EXTENSIONS, imread, read_mask
from inspection_core.errors import DataError

GOOD = "good"


@dataclass(frozen=True)
class Sample:
    """One labelled image. mask_path is None for good images or when no mask exists."""

    path: Path
    label: int  # 0 good, 1 defective
    defect_type: str
    mask_path: Path | None = None

    def load(self) -> np.ndarray:
        return imread(self.path)

    def load_mask(self, shape: tuple[int, int]) -> np.ndarray:
        """Ground-truth mask at the given (H, W); all-False for good images or missing masks."""
        if self.mask_path is None:
            return np.zeros(shape, dtype=bool)
        m = read_mask(self.mask_path)
        if m.shape != tuple(shape):
            import cv2

            m = cv2.resize(m.astype(np.uint8), (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST) > 0
        return m


def find_images(folder: str | os.PathLike[str]) -> list[Path]:
    """Image files directly inside `folder`, sorted; hidden and non-image files are skipped."""
    d = Path(folder)
    if not d.is_dir():
        raise DataError(f"folder not found: {d}")
    return sorted(
        p
        for p in d.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTENSIONS
    )


class MVTecDataset:
    """Index of an MVTec-layout folder; images are loaded lazily by the caller."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise DataError(f"dataset folder not found: {self.root}")
        train_dir = self.root / "train" / GOOD
        test_dir = self.root / "test"
        if train_dir.is_dir() or test_dir.is_dir():
            self.train = [Sample(p, 0, GOOD) for p in find_images(train_dir)] if train_dir.is_dir() else []
            self.test = self._index_test(test_dir) if test_dir.is_dir() else []
        else:  # a plain folder of good images
            self.train = [Sample(p, 0, GOOD) for p in find_images(self.root)]
            self.test = []

    def _index_test(self, test_dir: Path) -> list[Sample]:
        samples: list[Sample] = []
        gt_root = self.root / "ground_truth"
        for type_dir in sorted(p for p in test_dir.iterdir() if p.is_dir()):
            dtype = type_dir.name
            for img in find_images(type_dir):
                if dtype == GOOD:
                    samples.append(Sample(img, 0, GOOD))
                    continue
                mask = None
                for cand in (
                    (gt_root / dtype).glob(f"{img.stem}_mask.*") if (gt_root / dtype).is_dir() else []
                ):
                    if cand.suffix.lower() in IMAGE_EXTENSIONS:
                        mask = cand
                        break
                samples.append(Sample(img, 1, dtype, mask))
        return samples

    def require_train(self) -> list[Sample]:
        if not self.train:
            raise DataError(
                f"no training images in {self.root} (expected train/good/*.png or images in the folder)"
            )
        return self.train

    def require_test(self) -> list[Sample]:
        if not self.test:
            raise DataError(f"no test images in {self.root} (expected test/<type>/*.png)")
        return self.test

    @property
    def has_masks(self) -> bool:
        return any(s.mask_path is not None for s in self.test)
