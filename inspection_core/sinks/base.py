"""The sink contract and the runner that keeps a receiver's trouble away from inspection.

Every sink gets its own bounded queue and thread (`SinkRunner`): the inference thread only appends
(`submit` is O(1), never blocks, never does I/O); a full queue drops the newest delivery and counts
it. The sink's thread opens the receiver, sends, and on any failure counts it, waits with exponential
backoff (interrupted at close) and opens again, so a dead PLC, broker or web server only shows in the
sink's state and counters: connected → retrying → failing (after `fail_after` failures in a row).
"""

from __future__ import annotations

import enum
import functools
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from inspection_core.errors import AoiError
from inspection_core.records.log import RecordContext
from inspection_core.sinks.message import encode, result_message
from inspection_core.types import InspectionResult, Verdict


class SinkError(AoiError):
    """A sink URL or a receiver that cannot be used (bad URL, refused connection, HTTP error…)."""


class SinkState(enum.StrEnum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RETRYING = "retrying"
    FAILING = "failing"
    CLOSED = "closed"


class Delivery:
    """One thing to hand to the line: a result ("result" or a "test" message) or the station's
    "status". The message is built on the first sink thread that needs it, never on the inference
    thread, and shared by all sinks (two threads building it at once build the same dict)."""

    __slots__ = ("__dict__", "kind", "t_ns", "result", "context", "frame_timestamp_ns", "status", "done")

    def __init__(
        self,
        kind: str,
        t_ns: int,
        result: InspectionResult | None = None,
        context: RecordContext | None = None,
        frame_timestamp_ns: int | None = None,
        status: dict[str, Any] | None = None,
        done: Callable[[str, str | None], None] | None = None,
    ) -> None:
        self.kind = kind
        self.t_ns = t_ns
        self.result = result
        self.context = context
        self.frame_timestamp_ns = frame_timestamp_ns
        self.status = status
        self.done = done  # (sink name, error or None) once this sink sent it or gave up

    @property
    def verdict(self) -> Verdict | None:
        return None if self.result is None else self.result.verdict

    @functools.cached_property
    def message(self) -> dict[str, Any]:
        if self.status is not None:
            return self.status
        assert self.result is not None and self.context is not None
        return result_message(
            self.result, self.context, self.t_ns, self.frame_timestamp_ns, test=self.kind == "test"
        )

    @functools.cached_property
    def data(self) -> bytes:
        return encode(self.message)


class Sink:
    """A receiver on the line. Subclasses implement `open`, `send` and `close`; all three run on the
    sink's own thread only, so a sink needs no locks of its own. Raise on failure: the runner counts
    it and retries with backoff."""

    scheme = ""

    def __init__(self, url: str) -> None:
        self.url = url

    @property
    def name(self) -> str:
        return self.url

    def open(self) -> None:
        """Connect (or check the receiver is reachable); called again after every failure."""

    def send(self, delivery: Delivery) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Release the receiver (called once, on the sink's thread, at the end)."""


_STOP = object()
_EMPTY = np.zeros((0, 0), np.float32)
_EMPTY_MASK = np.zeros((0, 0), bool)


@dataclass(frozen=True)
class SinkStats:
    name: str
    state: SinkState
    sent: int  # results and test messages sent (status updates are not counted)
    dropped: int  # refused by a full queue
    failed: int  # handed to the receiver and refused (connection lost, HTTP error…)
    queued: int
    latency_ms_p50: float | None  # verdict → sent, over the last LATENCY_WINDOW results
    latency_ms_p99: float | None
    latency_ms_max: float | None
    last_error: str | None

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "state": str(self.state)}


LATENCY_WINDOW = 512


class SinkRunner:
    """A sink's bounded queue and thread. `backoff_s` = (first, largest) wait after a failure."""

    def __init__(
        self,
        sink: Sink,
        queue_size: int = 256,
        backoff_s: tuple[float, float] = (0.5, 30.0),
        fail_after: int = 3,
    ) -> None:
        self.sink = sink
        self.queue_size = queue_size
        self.backoff_s = backoff_s
        self.fail_after = fail_after
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()  # put/get in C: a wake-up costs µs
        self._stop = threading.Event()
        self.state = SinkState.CONNECTING
        self.sent = 0
        self.dropped = 0
        self.failed = 0
        self.failures_in_a_row = 0
        self.last_error: str | None = None
        self._latency: deque[float] = deque(maxlen=LATENCY_WINDOW)
        self._thread = threading.Thread(target=self._run, name=f"aoi-sink-{sink.scheme}", daemon=True)
        self._thread.start()

    @property
    def name(self) -> str:
        return self.sink.name

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def submit(self, delivery: Delivery) -> bool:
        """Queue a delivery (never blocks); False when the queue is full (dropped and counted)."""
        if self._queue.qsize() >= self.queue_size or self._stop.is_set():
            self.dropped += 1
            if delivery.done is not None:
                delivery.done(self.name, "dropped: the sink's queue is full")
            return False
        self._queue.put(delivery)
        return True

    # --- the sink's thread ---------------------------------------------------------------------------
    def _fail(self, exc: BaseException) -> None:
        self.failures_in_a_row += 1
        self.last_error = f"{type(exc).__name__}: {exc}" if not isinstance(exc, AoiError) else str(exc)
        self.state = SinkState.FAILING if self.failures_in_a_row >= self.fail_after else SinkState.RETRYING
        first, largest = self.backoff_s
        self._stop.wait(min(largest, first * 2 ** min(self.failures_in_a_row - 1, 30)))

    def _run(self) -> None:
        opened = False
        try:
            while not self._stop.is_set():
                if not opened:
                    try:
                        self.sink.open()
                        opened = True
                        self.state = SinkState.CONNECTED
                    except Exception as exc:  # noqa: BLE001 - any receiver trouble: count, back off, retry
                        self._fail(exc)
                        continue
                item = self._queue.get()
                if item is _STOP:
                    return
                try:
                    self.sink.send(item)
                except Exception as exc:  # noqa: BLE001
                    self.failed += 1
                    if item.done is not None:
                        item.done(self.name, f"{type(exc).__name__}: {exc}")
                    opened = False
                    self._fail(exc)
                    continue
                if item.kind == "result":
                    self._latency.append((time.time_ns() - item.t_ns) / 1e6)
                if item.kind != "status":  # results and test messages: what the line counts
                    self.sent += 1
                self.failures_in_a_row = 0
                self.state = SinkState.CONNECTED
                if item.done is not None:
                    item.done(self.name, None)
        finally:
            try:
                self.sink.close()
            except Exception as exc:  # noqa: BLE001 - closing a broken receiver may fail too
                self.last_error = f"close: {type(exc).__name__}: {exc}"
            self.state = SinkState.CLOSED

    def close(self, timeout: float = 5.0) -> None:
        """Stop the thread (what is still queued is not sent) and release the receiver (idempotent)."""
        self._stop.set()
        self._queue.put(_STOP)
        self._thread.join(timeout)

    def stats(self) -> SinkStats:
        lat = sorted(self._latency)
        return SinkStats(
            name=self.name,
            state=self.state,
            sent=self.sent,
            dropped=self.dropped,
            failed=self.failed,
            queued=self._queue.qsize(),
            latency_ms_p50=round(lat[len(lat) // 2], 3) if lat else None,
            latency_ms_p99=round(lat[min(len(lat) - 1, int(len(lat) * 0.99))], 3) if lat else None,
            latency_ms_max=round(lat[-1], 3) if lat else None,
            last_error=self.last_error,
        )


def slim(result: InspectionResult) -> InspectionResult:
    """The result without its arrays (a queue of 5-MP maps would hold gigabytes for a dead receiver).
    A shallow copy of the frozen dataclass's fields (`dataclasses.replace` costs ~25 µs: it validates)."""
    if not result.anomaly_map.size and not result.mask.size:
        return result
    copy = object.__new__(InspectionResult)
    fields = dict(result.__dict__)
    fields.pop("hotspot", None)  # a cached property of the map
    fields["anomaly_map"], fields["mask"] = _EMPTY, _EMPTY_MASK
    copy.__dict__.update(fields)
    return copy
