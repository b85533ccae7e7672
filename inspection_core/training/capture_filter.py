"""Keep a product's good samples clean while capturing: no frame the live model judges NG, no near-copy.

A good set with defective frames in it teaches the model that those defects are normal; a good set of
near-identical frames (a stopped line, auto-capture faster than the web moves) adds time, not knowledge.
`CaptureFilter.check` decides per frame: capture, skip (with the reason), or capture but flag it for a
person to review. Similarity is a cheap measure on purpose — the mean absolute difference of 32×32 grey
thumbnails, in 0..1 of full scale — so it runs on every auto-capture at frame rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from inspection_core.errors import DataError

NgPolicy = Literal["skip", "flag", "keep"]
NG_POLICIES: tuple[NgPolicy, ...] = ("skip", "flag", "keep")
SIGNATURE_SIDE = 32
Action = Literal["capture", "flag", "skip"]


def frame_signature(image: np.ndarray, side: int = SIGNATURE_SIDE) -> np.ndarray:
    """A side×side float32 grey thumbnail in 0..1 (what `frame_change` compares). A big frame is first
    thinned to every k-th pixel (at least 4×side kept a side), then area-averaged in its own dtype:
    a 5 MP frame costs about a millisecond on the GUI thread, not a float copy of every pixel."""
    img = image
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    k = max(1, min(img.shape[0], img.shape[1]) // (4 * side))
    if k > 1:
        img = img[::k, ::k]
    if img.dtype not in (np.uint8, np.uint16, np.float32):
        img = img.astype(np.float32)
    small = cv2.resize(np.ascontiguousarray(img), (side, side), interpolation=cv2.INTER_AREA)
    small = small.astype(np.float32)
    if small.ndim == 3:
        small = small[:, :, :3].mean(axis=2)
    scale = 65535.0 if image.dtype == np.uint16 else 255.0 if image.dtype == np.uint8 else 1.0
    return small / np.float32(scale)


def frame_change(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two signatures, 0 (same) .. 1 (black vs white)."""
    return float(np.abs(a - b).mean())


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str = ""
    change: float | None = None  # difference to the previous capture, when there was one
    cause: Literal["", "ng", "similar"] = ""


@dataclass(frozen=True)
class CaptureFilter:
    """ng_policy: what to do with a frame the live model judges NG (skip / flag / keep).
    min_change: skip a frame that differs from the previous capture by less than this (0 = off)."""

    ng_policy: NgPolicy = "skip"
    min_change: float = 0.01

    def __post_init__(self) -> None:
        if self.ng_policy not in NG_POLICIES:
            raise DataError(f"unknown NG policy {self.ng_policy!r}: use {', '.join(NG_POLICIES)}")
        if not 0.0 <= self.min_change <= 1.0:
            raise DataError(f"minimum change {self.min_change} is outside 0..1")

    def check(
        self,
        signature: np.ndarray,
        judged_ng: bool | None,
        score: float | None = None,
        previous: np.ndarray | None = None,
    ) -> Decision:
        """judged_ng: the live model's verdict on this frame (None: no model judged it)."""
        change = None
        if previous is not None and previous.shape == signature.shape:
            change = frame_change(signature, previous)
            if change < self.min_change:
                return Decision(
                    "skip",
                    f"too similar to the previous capture (change {change:.1%} < {self.min_change:.1%})",
                    change,
                    "similar",
                )
        if judged_ng and self.ng_policy != "keep":
            said = f" (score {score:.3f})" if score is not None else ""
            if self.ng_policy == "skip":
                return Decision("skip", f"the live model judges this frame NG{said}", change, "ng")
            return Decision(
                "flag", f"the live model judges this frame NG{said}: flagged for review", change, "ng"
            )
        return Decision("capture", "", change)
