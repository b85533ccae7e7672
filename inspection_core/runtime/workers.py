"""Worker processes that synthesise training batches ahead of the optimiser.

Defect synthesis is numpy/OpenCV at ~7 ms an image. Processes, not threads: no shared GIL, and
each worker's OpenCV is its own. One place decides how many workers there are and how each starts,
for every model that synthesises.

Workers are never forked from the training process: once that process has run OpenCV in parallel
(loading and resizing images does), a forked child hangs in its first OpenCV call (seen here: a SIDN
worker blocked in cv2.setNumThreads). The app trains in the process that shows the camera, so this
is the normal case, not an edge case. Workers start from a clean forkserver (spawn where there is
none); the data travels as torch tensors, which pickle as shared memory, not as copies.
"""

from __future__ import annotations

import multiprocessing
import os

import cv2
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset, Sampler

MAX_AUTO_WORKERS = 12


def auto_workers(requested: int, device: torch.device) -> int:
    """Workers for a `workers` option: -1 = auto, i.e. all cores but two (at most 12) when a GPU
    trains and none on a CPU device (its cores run the convolutions; synthesis runs inline)."""
    if requested >= 0:
        return requested
    if device.type != "cuda":
        return 0
    return max(0, min(MAX_AUTO_WORKERS, (os.cpu_count() or 1) - 2))


def worker_context() -> multiprocessing.context.BaseContext:
    """Clean worker processes (see the module doc): forkserver where the platform has it, else spawn."""
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def single_threaded_worker(_: int) -> None:
    """One OpenCV and one torch thread per worker: the workers already fill the cores."""
    cv2.setNumThreads(1)
    torch.set_num_threads(1)


def synthesis_loader(
    dataset: Dataset | IterableDataset,
    workers: int,
    device: torch.device,
    *,
    batch_size: int | None = None,
    sampler: Sampler | None = None,
    drop_last: bool = False,
    prefetch: int = 4,
) -> DataLoader:
    """A DataLoader over synthesised samples or batches (batch_size None: the dataset yields whole
    batches). Pinned memory on CUDA so the copy to the GPU overlaps the step."""
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=workers,
        drop_last=drop_last,
        pin_memory=device.type == "cuda",
        prefetch_factor=prefetch if workers else None,
        worker_init_fn=single_threaded_worker if workers else None,
        multiprocessing_context=worker_context() if workers else None,
    )
