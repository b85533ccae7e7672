"""CUDA-graph replay of a model's predict, one graph per input shape.

A batch-1 256² PatchCore is ~100 small kernels; on a GPU their launch cost exceeds their run time, so
replaying a captured graph cuts the latency to the GPU's own time. Used by the Inspector when the
model says its predict is capturable (`AnomalyModel.graph_safe`); any capture failure falls back to
eager calls for that shape and is remembered, so a frame is never lost to it.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass

import torch

log = logging.getLogger(__name__)

Predict = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


@dataclass
class _Captured:
    graph: torch.cuda.CUDAGraph
    static_in: torch.Tensor
    out_map: torch.Tensor
    out_score: torch.Tensor


def graphs_enabled() -> bool:
    """CUDA graphs are on unless AOI_CUDA_GRAPHS=0 (a way out should a driver misbehave)."""
    return os.environ.get("AOI_CUDA_GRAPHS", "1") != "0"


def graph_eligible(model: torch.nn.Module, shape: tuple[int, ...], device_type: str) -> bool:
    """Whether an input of this (N, C, H, W) shape on this device type is replayed from a graph: a
    CUDA input, a model that allows it (`graph_safe`), graphs enabled, and N·H·W within the model's
    `graph_max_pixels`."""
    if device_type != "cuda" or not getattr(model, "graph_safe", False) or not graphs_enabled():
        return False
    n, h, w = shape[0], shape[-2], shape[-1]
    return n * h * w <= getattr(model, "graph_max_pixels", 0)


class GraphedPredict:
    """Callable like `model.predict`; replays a CUDA graph per (shape, dtype) of the input batch.

    The key also holds the address of the model's first tensor: a model moved to another device (or
    back) gets fresh graphs instead of replaying kernels on freed memory.
    """

    def __init__(self, model: torch.nn.Module, max_graphs: int = 8, method: str = "predict") -> None:
        self._model = model
        self._predict: Predict = getattr(model, method)  # predict, or predict_frame for whole frames
        self._graphs: dict[tuple, _Captured | None] = {}  # None = capture failed, run eagerly
        self._max = max_graphs
        self._lock = threading.Lock()  # the static buffers are shared: one replay at a time

    @property
    def captured(self) -> int:
        return sum(g is not None for g in self._graphs.values())

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.device.type != "cuda":
            return self._predict(x)
        first = next(itertools.chain(self._model.parameters(), self._model.buffers()), None)  # no dict built
        key = (tuple(x.shape), x.dtype, x.device.index, None if first is None else first.data_ptr())
        with self._lock:
            if key not in self._graphs and len(self._graphs) < self._max:
                self._graphs[key] = self._capture(x)
            entry = self._graphs.get(key)
            if entry is None:
                return self._predict(x)
            entry.static_in.copy_(x)
            entry.graph.replay()
            # clones: the next replay overwrites the static outputs while callers still hold these
            return entry.out_map.clone(), entry.out_score.clone()

    def _capture(self, x: torch.Tensor) -> _Captured | None:
        try:
            static_in = x.clone()
            side = torch.cuda.Stream(device=x.device)
            side.wait_stream(torch.cuda.current_stream(x.device))
            with torch.cuda.stream(side), torch.inference_mode():
                for _ in range(2):  # warm-up outside the graph: cuDNN/cuBLAS pick their kernels here
                    self._predict(static_in)
            torch.cuda.current_stream(x.device).wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph), torch.inference_mode():
                out_map, out_score = self._predict(static_in)
            return _Captured(graph, static_in, out_map, out_score)
        except Exception as exc:  # noqa: BLE001 - any failure means: run this shape eagerly
            log.warning("CUDA graph capture failed for input %s, running eagerly: %s", tuple(x.shape), exc)
            torch.cuda.synchronize(x.device)
            return None
