"""Reading the inspection log after the fact: filters, exports, statistics and an integrity check.

Opened read-only, so `aoi records …` can run beside a station that is writing (WAL lets readers and
the one writer go on together) and can never change the store it inspects.
"""

from __future__ import annotations

import csv
import json
import sqlite3
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from inspection_core.errors import AoiError
from inspection_core.records.log import SCHEMA_VERSION, InspectionRecord, iso_times
from inspection_core.records.recorder import LOG_NAME

# NG parts by their largest defect region; "no region" = rejected on the image score alone
AREA_BUCKETS: tuple[tuple[str, int, int], ...] = (
    ("<100 px", 0, 100),
    ("100-999 px", 100, 1000),
    ("1000-9999 px", 1000, 10_000),
    (">=10000 px", 10_000, 2**62),
)
NO_REGION = "no region"


def parse_time(text: str) -> int:
    """ISO 8601 date or date-time → epoch ns; without an offset it is the station's local time (what
    an operator reads on the clock), `Z` or `+01:00` make it explicit. AoiError when unreadable."""
    s = text.strip()
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(s)
    except ValueError as exc:
        raise AoiError(
            f"bad time {text!r}: use ISO 8601, e.g. 2026-03-01T03:12 or 2026-03-01T03:12Z"
        ) from exc
    if dt.tzinfo is None:
        dt = dt.astimezone()  # naive: local time
    return int(dt.astimezone(UTC).timestamp() * 1_000_000) * 1000


@dataclass(frozen=True)
class Filters:
    since_ns: int | None = None
    until_ns: int | None = None
    verdict: str | None = None
    recipe: str | None = None
    limit: int | None = None
    min_area_px: int | None = None  # only parts whose largest defect region has at least this area
    offset: int = 0  # rows skipped before the first one returned (a page of a long list)

    def where(self) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        args: list[Any] = []
        if self.since_ns is not None:
            clauses.append("time_ns >= ?")
            args.append(self.since_ns)
        if self.until_ns is not None:
            clauses.append("time_ns < ?")
            args.append(self.until_ns)
        if self.verdict:
            clauses.append("verdict = ?")
            args.append(self.verdict.upper())
        if self.recipe:
            clauses.append("recipe = ?")
            args.append(self.recipe)
        if self.min_area_px is not None:
            clauses.append("max_area_px >= ?")
            args.append(int(self.min_area_px))
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), args


def area_bucket(max_area_px: int | None) -> str:
    if max_area_px is None:
        return NO_REGION
    for name, lo, hi in AREA_BUCKETS:
        if lo <= max_area_px < hi:
            return name
    return AREA_BUCKETS[-1][0]


class RecordsReader:
    """Read-only view of `<directory>/inspections.sqlite`."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.path = self.directory / LOG_NAME
        if not self.path.is_file():
            raise AoiError(f"no inspection log at {self.path} (use --records DIR or set AOI_STATION_HOME)")
        try:
            self.con = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
            self.con.row_factory = sqlite3.Row
            self.schema = int(self.con.execute("PRAGMA user_version").fetchone()[0])
        except sqlite3.DatabaseError as exc:
            raise AoiError(f"inspection log {self.path} is not readable: {exc}") from exc

    def close(self) -> None:
        self.con.close()

    def records(self, f: Filters, newest_first: bool = False) -> Iterator[InspectionRecord]:
        where, args = f.where()
        q = f"SELECT * FROM inspections{where} ORDER BY time_ns {'DESC' if newest_first else 'ASC'}, id"
        if f.limit is not None or f.offset:
            q += " LIMIT ? OFFSET ?"
            args += [-1 if f.limit is None else int(f.limit), int(f.offset)]
        try:
            for row in self.con.execute(q, args):
                yield InspectionRecord.from_row(row)
        except sqlite3.DatabaseError as exc:
            raise AoiError(f"cannot read {self.path}: {exc}") from exc

    def counts(self, f: Filters) -> dict[str, int]:
        """{"inspected", "OK", "NG"} of the rows `f` matches: one indexed COUNT, cheap enough to run
        for a whole shift (where `stats` reads every row)."""
        where, args = f.where()
        try:
            rows = self.con.execute(
                f"SELECT verdict, COUNT(*) FROM inspections{where} GROUP BY verdict", args
            )
            d = {"OK": 0, "NG": 0, **{str(v): int(n) for v, n in rows}}
        except sqlite3.DatabaseError as exc:
            raise AoiError(f"cannot read {self.path}: {exc}") from exc
        d["inspected"] = sum(n for k, n in d.items())
        return d

    def stats(self, f: Filters) -> dict[str, Any]:
        """Count, yield, NG by largest-defect area, and per local hour."""
        where, args = f.where()
        q = f"SELECT time_ns, time_local, verdict, max_area_px FROM inspections{where}"
        total: Counter[str] = Counter()
        by_area: Counter[str] = Counter()
        hours: dict[str, Counter[str]] = {}
        try:
            rows = self.con.execute(q, args).fetchall()
        except sqlite3.DatabaseError as exc:
            raise AoiError(f"cannot read {self.path}: {exc}") from exc
        for t_ns, local, verdict, area in rows:
            total[verdict] += 1
            if verdict == "NG":
                by_area[area_bucket(area)] += 1
            hour = (local or iso_times(t_ns)[1])[:13]
            hours.setdefault(hour, Counter())[verdict] += 1
        n = sum(total.values())
        order = [NO_REGION, *(b[0] for b in AREA_BUCKETS)]
        return {
            "count": n,
            "ok": total["OK"],
            "ng": total["NG"],
            "yield": round(total["OK"] / n, 5) if n else None,
            "ng_by_area": {k: by_area[k] for k in order if by_area[k]},
            "per_hour": [
                {"hour": h, "count": sum(c.values()), "ok": c["OK"], "ng": c["NG"]}
                for h, c in sorted(hours.items())
            ],
        }

    def verify(self) -> list[str]:
        """Problems found (empty = all is well): SQLite's integrity check, the schema, and every image
        path a row points to."""
        problems: list[str] = []
        try:
            result = [r[0] for r in self.con.execute("PRAGMA integrity_check")]
            if result != ["ok"]:
                problems += [f"integrity: {r}" for r in result[:20]]
            if self.schema > SCHEMA_VERSION:
                problems.append(f"schema {self.schema} is newer than this aoi-station ({SCHEMA_VERSION})")
            for rid, path in self.con.execute(
                "SELECT id, image_path FROM inspections WHERE image_path IS NOT NULL ORDER BY id"
            ):
                p = Path(path)
                if not p.is_absolute():
                    p = self.directory / p
                if not p.is_file():
                    problems.append(f"record {rid}: image {path} is missing")
        except sqlite3.DatabaseError as exc:
            problems.append(f"database: {exc}")
        return problems


EXPORT_FORMATS = ("csv", "jsonl")


def write_export(records: Iterable[InspectionRecord], fh: IO[str], fmt: str = "csv") -> int:
    """Write records to an open text file as CSV (one column per field, defects and timings as JSON)
    or JSON lines; returns how many were written. The one exporter of the CLI and the GUI."""
    if fmt not in EXPORT_FORMATS:
        raise AoiError(f"unknown export format {fmt!r}: use one of {', '.join(EXPORT_FORMATS)}")
    writer = None
    if fmt == "csv":
        writer = csv.DictWriter(fh, fieldnames=[f.name for f in fields(InspectionRecord)])
        writer.writeheader()
    n = 0
    for rec in records:
        d = rec.to_dict()
        if writer is not None:
            d["defects"] = json.dumps(d["defects"])
            d["timings"] = json.dumps(d["timings"])
            writer.writerow(d)
        else:
            fh.write(json.dumps(d) + "\n")
        n += 1
    return n
