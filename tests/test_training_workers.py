"""Synthesis worker processes: how many, and that they start and stop cleanly from a process that has
already run OpenCV in parallel (the app's case: a forked worker used to hang in its first cv2 call)."""

from __future__ import annotations

import multiprocessing
import os

import cv2
import numpy as np
import pytest
import torch

from inspection_core.models import create_model
from inspection_core.runtime import FitContext
from inspection_core.runtime.workers import MAX_AUTO_WORKERS, auto_workers


def test_auto_workers_none_on_cpu_most_cores_on_a_gpu_and_explicit_values_kept() -> None:
    assert auto_workers(-1, torch.device("cpu")) == 0
    expected = max(0, min(MAX_AUTO_WORKERS, (os.cpu_count() or 1) - 2))
    assert auto_workers(-1, torch.device("cuda")) == expected
    assert auto_workers(3, torch.device("cpu")) == 3 and auto_workers(0, torch.device("cuda")) == 0


def _busy_opencv() -> None:
    """Run OpenCV's thread pool in this process, as loading and resizing camera frames does."""
    cv2.setNumThreads(2)
    big = np.random.default_rng(0).random((1500, 1500), dtype=np.float32)
    cv2.GaussianBlur(cv2.resize(big, (1400, 1300)), (0, 0), 3)


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("bfdf", {"image_size": (64, 64), "channels": 16, "batch_size": 4, "steps": 3, "n_references": 2}),
        ("ndpnet", {"image_size": (32, 32), "width": 4, "batch_size": 4, "epochs": 1, "phase2_epochs": 1}),
    ],
)
def test_training_with_worker_processes_after_opencv_ran_in_parallel(name: str, options: dict) -> None:
    _busy_opencv()
    h, w = options["image_size"]
    model = create_model(name, **options, workers=2)
    model.fit(torch.rand(6, 3, h, w), FitContext())
    maps, _ = model.predict(torch.rand(1, 3, h, w))
    assert torch.isfinite(maps).all()
    assert not multiprocessing.active_children()  # the workers are gone when fit returns
