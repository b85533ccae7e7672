"""Shifts and lots: named periods the operator starts, with their counters, surviving restarts.

What is kept is only the name and start time of the current shift and lot
(`<station home>/shift.json`); the counts come from the inspection records (rows since the start),
so a restarted station continues where it stopped and shows what was recorded. While the station
runs, each inspected result adds to the counts at once (no query per frame); after a stop, when the
recorder has committed everything, the counts are read from the records again.

Plain Python, no Qt: the GUI panel and the tests read the same numbers.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app import paths
from inspection_core.errors import AoiError
from inspection_core.runtime.atomic import atomic_write_text

FILE_NAME = "shift.json"
KINDS = ("shift", "lot")


@dataclass
class Tally:
    ok: int = 0
    ng: int = 0

    @property
    def inspected(self) -> int:
        return self.ok + self.ng

    @property
    def yield_pct(self) -> float | None:
        return 100.0 * self.ok / self.inspected if self.inspected else None

    def __add__(self, other: Tally) -> Tally:
        return Tally(self.ok + other.ok, self.ng + other.ng)

    def __sub__(self, other: Tally) -> Tally:
        return Tally(self.ok - other.ok, self.ng - other.ng)


@dataclass
class Period:
    """One shift or lot: its name, when it started, and its counts (recorded before `base_until_ns`
    plus the live results counted since)."""

    name: str
    start_ns: int
    base: Tally = field(default_factory=Tally)
    base_until_ns: int | None = None  # None: the records were not read yet
    live: Tally = field(default_factory=Tally)

    @property
    def tally(self) -> Tally:
        return self.base + self.live


def state_file() -> Path:
    return paths.station_home() / FILE_NAME


class ShiftBook:
    """The current shift and lot (either may be unset)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or state_file()
        self.periods: dict[str, Period | None] = {k: None for k in KINDS}
        self._load()

    def _load(self) -> None:
        try:
            data: Any = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        if not isinstance(data, dict):
            return
        for kind in KINDS:
            d = data.get(kind)
            if isinstance(d, dict) and isinstance(d.get("name"), str) and isinstance(d.get("start_ns"), int):
                self.periods[kind] = Period(d["name"], d["start_ns"])

    def _save(self) -> None:
        data = {k: {"name": p.name, "start_ns": p.start_ns} for k, p in self.periods.items() if p is not None}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.path, json.dumps(data, indent=2))
        except OSError as exc:
            raise AoiError(f"cannot save the {'/'.join(KINDS)} to {self.path}: {exc}") from exc

    def start(self, kind: str, name: str, now_ns: int | None = None) -> Period:
        """Start a new shift or lot now (counts from zero); AoiError for an empty name."""
        if kind not in KINDS:
            raise AoiError(f"unknown period {kind!r}: use one of {', '.join(KINDS)}")
        name = name.strip()
        if not name:
            raise AoiError(f"a {kind} needs a name")
        t = time.time_ns() if now_ns is None else now_ns
        p = Period(name, t, base_until_ns=t)  # nothing recorded in it yet
        old = self.periods[kind]
        self.periods[kind] = p
        try:
            self._save()
        except AoiError:
            self.periods[kind] = old
            raise
        return p

    def end(self, kind: str) -> None:
        self.periods[kind] = None
        self._save()

    def add(self, ng: bool) -> None:
        """One inspected result, counted in the current shift and lot."""
        for p in self.periods.values():
            if p is not None:
                if ng:
                    p.live.ng += 1
                else:
                    p.live.ok += 1

    def resync_requests(self, now_ns: int | None = None) -> dict[str, tuple[int, int, Tally]]:
        """{kind: (start_ns, until_ns, live counts now)}: what to count in the records, for `set_base`."""
        t = time.time_ns() if now_ns is None else now_ns
        return {
            k: (p.start_ns, t, Tally(p.live.ok, p.live.ng)) for k, p in self.periods.items() if p is not None
        }

    def set_base(self, kind: str, start_ns: int, until_ns: int, ok: int, ng: int, live_then: Tally) -> None:
        """Counts read from the records for [start_ns, until_ns); `live_then` = the live counts when the
        read was asked for (those are in the records now; what came after stays live). Ignored if the
        period changed meanwhile."""
        p = self.periods.get(kind)
        if p is None or p.start_ns != start_ns:
            return
        p.base = Tally(ok, ng)
        p.base_until_ns = until_ns
        p.live = p.live - live_then
