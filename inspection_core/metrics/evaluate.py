"""Evaluate a trained model on a labelled MVTec-layout folder (what `aoi eval` prints)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from inspection_core.data.dataset import MVTecDataset, Sample
from inspection_core.data.imageio import to_rgb_float
from inspection_core.metrics.curves import auroc, f1_max, pixel_auroc_aupro
from inspection_core.models.bundle import ModelBundle
from inspection_core.runtime.context import FitContext, device_label


@dataclass
class EvalReport:
    image_auroc: float
    pixel_auroc: float
    aupro: float
    f1_max: float
    f1_threshold_raw: float
    n_images: int
    n_defective: int
    ms_per_image: float
    device: str
    model: str
    per_type: dict[str, dict[str, float]] = field(default_factory=dict)
    scores: list[float] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)

    def to_dict(self, with_scores: bool = False) -> dict[str, Any]:
        d = asdict(self)
        if not with_scores:
            d.pop("scores"), d.pop("labels"), d.pop("paths")
        return d


def compact_inputs(images: Sequence[np.ndarray], size: tuple[int, int]) -> np.ndarray:
    """(N, 3, H, W) model inputs at `size`, kept as uint8 when every image is 8-bit (a quarter of the
    float32 memory) — `inputs_to_tensor` gives back exactly the floats `to_rgb_float` would."""
    out = [to_rgb_float(im, size).transpose(2, 0, 1) for im in images]
    if all(im.dtype == np.uint8 for im in images):
        return np.stack([np.rint(f * 255.0).astype(np.uint8) for f in out])
    return np.stack(out).astype(np.float32, copy=False)


def inputs_to_tensor(x: np.ndarray) -> torch.Tensor:
    """A float32 (N, 3, H, W) tensor in [0, 1] from `compact_inputs` output (or a slice of it)."""
    if x.dtype == np.uint8:
        return torch.from_numpy(x.astype(np.float32) / 255.0)
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))


@dataclass
class PreparedTestSet:
    """Test images read, resized to one model input size and kept with their masks, so that a suite
    evaluates many models (shot counts, presets) without reading and resizing the files again."""

    items: list[Sample]
    size: tuple[int, int]
    inputs: np.ndarray  # compact_inputs of items
    masks: np.ndarray | None  # (N, H, W) bool, None when no sample has a mask


def prepare_test_set(
    samples: list[Sample] | MVTecDataset, size: tuple[int, int], pixel_metrics: bool = True
) -> PreparedTestSet:
    items = samples.require_test() if isinstance(samples, MVTecDataset) else list(samples)
    size = (int(size[0]), int(size[1]))
    inputs = compact_inputs([s.load() for s in items], size)
    masks = None
    if pixel_metrics and any(s.mask_path is not None for s in items):
        masks = np.stack([s.load_mask(size) if s.label else np.zeros(size, bool) for s in items])
    return PreparedTestSet(items, size, inputs, masks)


@torch.inference_mode()
def evaluate_dataset(
    bundle: ModelBundle,
    samples: list[Sample] | MVTecDataset | PreparedTestSet,
    ctx: FitContext | None = None,
    batch_size: int = 16,
    pixel_metrics: bool = True,
) -> EvalReport:
    """Image metrics on raw scores; pixel metrics on raw maps at the model's input size (masks resized).

    A PreparedTestSet at the model's input size is used as it is (no file is read again)."""
    ctx = ctx or FitContext()
    model = bundle.model
    size = model.image_size
    prepared = samples if isinstance(samples, PreparedTestSet) and samples.size == size else None
    if isinstance(samples, PreparedTestSet):
        items = samples.items
    else:
        items = samples.require_test() if isinstance(samples, MVTecDataset) else list(samples)
    dev = model.device
    n = len(items)
    scores = np.zeros(n, np.float64)
    labels = np.array([s.label for s in items], np.int64)
    with_masks = pixel_metrics and any(s.mask_path is not None for s in items)
    maps = np.zeros((n, *size), np.float32) if with_masks else None
    gts = np.zeros((n, *size), bool) if with_masks else None
    t_model = 0.0
    for i in range(0, n, batch_size):
        chunk = items[i : i + batch_size]
        if prepared is not None:
            x = inputs_to_tensor(prepared.inputs[i : i + batch_size]).to(dev)
        else:
            imgs = [s.load() for s in chunk]
            x = torch.from_numpy(np.stack([to_rgb_float(im, size).transpose(2, 0, 1) for im in imgs])).to(dev)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        m, s = (bundle.predict if bundle.backend != "torch" else model.predict)(x)  # e.g. ONNX Runtime
        m, s = m.float().cpu().numpy(), s.float().cpu().numpy()
        t_model += time.perf_counter() - t0
        scores[i : i + len(chunk)] = s
        if with_masks:
            maps[i : i + len(chunk)] = m
            if prepared is not None and prepared.masks is not None:
                gts[i : i + len(chunk)] = prepared.masks[i : i + len(chunk)]
            else:
                for j, smp in enumerate(chunk):
                    gts[i + j] = smp.load_mask(size) if smp.label else False
        ctx.report("eval", min(n, i + batch_size), n, "evaluating")
    f1, thr = f1_max(labels, scores)
    per_type: dict[str, dict[str, float]] = {}
    good = labels == 0
    for t in sorted({s.defect_type for s in items if s.label}):
        sel = np.array([s.defect_type == t for s in items])
        per_type[t] = {"n": int(sel.sum()), "image_auroc": auroc(labels[sel | good], scores[sel | good])}
    p_auroc = pro = float("nan")
    if with_masks:
        p_auroc, pro = pixel_auroc_aupro(gts, maps, device=str(dev) if dev.type == "cuda" else None)
    del maps, gts
    return EvalReport(
        image_auroc=auroc(labels, scores),
        pixel_auroc=p_auroc,
        aupro=pro,
        f1_max=f1,
        f1_threshold_raw=thr,
        n_images=n,
        n_defective=int(labels.sum()),
        ms_per_image=t_model * 1e3 / max(n, 1),
        device=device_label(dev),
        model=bundle.name,
        per_type=per_type,
        scores=scores.tolist(),
        labels=labels.tolist(),
        paths=[str(s.path) for s in items],
    )
