"""Camera digital output: a reject pulse on one of the camera's output lines after an NG verdict,
through standard GenICam (SFNC) feature names, so any GenTL camera with outputs can drive a reject gate.

Two ways, chosen by `mode`:
- "user" (every camera with outputs): LineSelector=<line>, LineMode=Output, LineSource=UserOutput<n>
  once; per NG: wait `delay_ms`, UserOutputSelector=UserOutput<n>, UserOutputValue=True, wait
  `width_ms`, UserOutputValue=False. The width is timed by this thread (a few ms jitter on a busy PC).
- "timer" (cameras with a counter/timer block): LineSource=Timer0Active, TimerSelector=Timer0,
  TimerDuration=width µs, TimerDelay=delay µs, TimerTriggerSource=SoftwareSignal0 once; per NG:
  SoftwareSignalSelector=SoftwareSignal0, SoftwareSignalPulse.execute(). The camera times the pulse.

The delay counts from the verdict (its `time_ns`), not from when this thread got to it.
Viky (the GenTL simulator we test with) has no outputs: the logic is tested against a node-map
stand-in that records every write (tests/test_sinks.py); no real line has been pulsed by this code.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from inspection_core.sinks.base import Delivery, Sink
from inspection_core.types import Verdict

NodeMapProvider = Callable[[], Any]


class CameraOutputSink(Sink):
    """`camera-output:Line1?width_ms=50&delay_ms=0&mode=user|timer`; `node_map` returns the open
    camera's GenICam node map (Harvesters' `remote_device.node_map`) or None while there is none."""

    scheme = "camera-output"

    def __init__(
        self,
        url: str,
        node_map: NodeMapProvider | None,
        line: str = "Line1",
        width_ms: float = 50.0,
        delay_ms: float = 0.0,
        mode: str = "user",
        user_output: str = "UserOutput1",
        timer: str = "Timer0",
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(url)
        if mode not in ("user", "timer"):
            raise ValueError(f"camera output mode must be user or timer, not {mode!r}")
        if width_ms <= 0 or delay_ms < 0:
            raise ValueError("camera output: width_ms must be > 0 and delay_ms >= 0")
        self.node_map_of = node_map
        self.line, self.width_ms, self.delay_ms, self.mode = line, width_ms, delay_ms, mode
        self.user_output, self.timer = user_output, timer
        self._sleep = sleep
        self._nm: Any = None
        self.pulses = 0

    def _set(self, name: str, value: Any) -> None:
        node = getattr(self._nm, name, None)
        if node is None:
            raise ConnectionError(f"the camera has no {name} feature (no digital output?)")
        node.value = value

    def open(self) -> None:
        nm = self.node_map_of() if self.node_map_of is not None else None
        if nm is None:
            raise ConnectionError("no camera open: the reject output waits for one")
        self._nm = nm
        self._set("LineSelector", self.line)
        self._set("LineMode", "Output")
        if self.mode == "user":
            self._set("LineSource", self.user_output)
            self._set("UserOutputSelector", self.user_output)
            self._set("UserOutputValue", False)
        else:
            self._set("LineSource", f"{self.timer}Active")
            self._set("TimerSelector", self.timer)
            self._set("TimerDuration", float(self.width_ms * 1000))
            self._set("TimerDelay", float(self.delay_ms * 1000))
            self._set("TimerTriggerSource", "SoftwareSignal0")

    def send(self, delivery: Delivery) -> None:
        if delivery.kind != "result" or delivery.verdict is not Verdict.NG:
            return
        if self.mode == "timer":
            self._set("SoftwareSignalSelector", "SoftwareSignal0")
            cmd = getattr(self._nm, "SoftwareSignalPulse", None)
            if cmd is None:
                raise ConnectionError("the camera has no SoftwareSignalPulse command")
            cmd.execute()
        else:
            wait = delivery.t_ns / 1e9 + self.delay_ms / 1000 - time.time()
            if wait > 0:
                self._sleep(wait)
            self._set("UserOutputSelector", self.user_output)
            self._set("UserOutputValue", True)
            try:
                self._sleep(self.width_ms / 1000)
            finally:
                self._set("UserOutputValue", False)  # never leave the gate open
        self.pulses += 1

    def close(self) -> None:
        if self._nm is not None and self.mode == "user":
            try:
                self._set("UserOutputValue", False)
            finally:
                self._nm = None
