"""Production counters (inspected, OK, NG, yield, throughput, latency, dropped) — plain Python, no Qt.

Kept apart from the Qt state object so the headless report and the tests read the same numbers.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class CounterSnapshot:
    inspected: int
    ok: int
    ng: int
    dropped: int
    fps: float
    latency_ms_median: float
    latency_ms_p95: float
    inference_ms_median: float

    @property
    def yield_pct(self) -> float:
        return 100.0 * self.ok / self.inspected if self.inspected else float("nan")

    def to_dict(self) -> dict[str, Any]:
        def r(x: float) -> float | None:
            return None if np.isnan(x) else round(float(x), 3)

        return {
            "inspected": self.inspected,
            "ok": self.ok,
            "ng": self.ng,
            "dropped": self.dropped,
            "yield_pct": r(self.yield_pct),
            "fps": r(self.fps),
            "latency_ms_median": r(self.latency_ms_median),
            "latency_ms_p95": r(self.latency_ms_p95),
            "inference_ms_median": r(self.inference_ms_median),
        }


class Counters:
    """Running totals plus windows of recent latencies and display times (for fps and percentiles)."""

    def __init__(self, window: int = 2000, fps_window_s: float = 3.0) -> None:
        self._window = window
        self._fps_window_s = fps_window_s
        self.reset()

    def reset(self) -> None:
        self.inspected = self.ok = self.ng = self.dropped = 0
        self._latency: deque[float] = deque(maxlen=self._window)
        self._inference: deque[float] = deque(maxlen=self._window)
        self._shown: deque[float] = deque(maxlen=self._window)

    def add(
        self, ng: bool, latency_ms: float, inference_ms: float, skipped: int = 0, now: float | None = None
    ) -> None:
        """One shown result; `skipped` = frames the inference worker dropped since its previous one."""
        self.inspected += 1
        self.dropped += skipped
        if ng:
            self.ng += 1
        else:
            self.ok += 1
        self._latency.append(latency_ms)
        self._inference.append(inference_ms)
        self._shown.append(time.perf_counter() if now is None else now)

    def fps(self, now: float | None = None) -> float:
        now = time.perf_counter() if now is None else now
        recent = [t for t in self._shown if now - t <= self._fps_window_s]
        if len(recent) < 2:
            return 0.0
        span = recent[-1] - recent[0]
        return (len(recent) - 1) / span if span > 0 else 0.0

    def snapshot(self) -> CounterSnapshot:
        lat = np.asarray(self._latency, dtype=np.float64)
        inf = np.asarray(self._inference, dtype=np.float64)
        nan = float("nan")
        return CounterSnapshot(
            inspected=self.inspected,
            ok=self.ok,
            ng=self.ng,
            dropped=self.dropped,
            fps=self.fps(),
            latency_ms_median=float(np.median(lat)) if lat.size else nan,
            latency_ms_p95=float(np.percentile(lat, 95)) if lat.size else nan,
            inference_ms_median=float(np.median(inf)) if inf.size else nan,
        )
