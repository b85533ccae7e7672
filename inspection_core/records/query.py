"""Reading the inspection log after the fact: filters, exports, statistics and an integrity check.

Opened read-only (SQLite: mode=ro; PostgreSQL: read-only transactions), so `aoi records …` can run
beside a station that is writing (WAL lets readers and the one writer go on together) and can never
change the store it inspects. Queries are SQLAlchemy Core on `records.schema`, the same on both.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa

from inspection_core.errors import AoiError
from inspection_core.records.db import (
    display_url,
    is_sqlite,
    make_engine,
    records_url,
    schema_of,
    sqlite_path,
    why,
)
from inspection_core.records.log import SCHEMA_VERSION, InspectionRecord, default_station_id, iso_times
from inspection_core.records.schema import inspections

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
    station: str | None = None  # one station's rows (several stations may share one plant database)

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
        if self.station:
            clauses.append("station = ?")
            args.append(self.station)
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), args

    def conditions(self) -> list[sa.ColumnElement[bool]]:
        """The same filter as SQLAlchemy conditions on `inspections` (what the reader runs)."""
        c = inspections.c
        out: list[sa.ColumnElement[bool]] = []
        if self.since_ns is not None:
            out.append(c.time_ns >= self.since_ns)
        if self.until_ns is not None:
            out.append(c.time_ns < self.until_ns)
        if self.verdict:
            out.append(c.verdict == self.verdict.upper())
        if self.recipe:
            out.append(c.recipe == self.recipe)
        if self.min_area_px is not None:
            out.append(c.max_area_px >= int(self.min_area_px))
        if self.station:
            out.append(c.station == self.station)
        return out


def area_bucket(max_area_px: int | None) -> str:
    if max_area_px is None:
        return NO_REGION
    for name, lo, hi in AREA_BUCKETS:
        if lo <= max_area_px < hi:
            return name
    return AREA_BUCKETS[-1][0]


class RecordsReader:
    """Read-only view of the inspection log: `<directory>/inspections.sqlite`, or the database `url`
    (or $AOI_RECORDS_URL) names. Image paths that are relative resolve against `directory`."""

    def __init__(self, directory: str | Path, url: str | None = None) -> None:
        self.directory = Path(directory)
        self.url = records_url(self.directory, url)
        self.path: Path | str = sqlite_path(self.url) if is_sqlite(self.url) else display_url(self.url)
        if is_sqlite(self.url) and not Path(self.path).is_file():
            raise AoiError(f"no inspection log at {self.path} (use --records DIR or set AOI_STATION_HOME)")
        try:
            self.engine = make_engine(self.url, lock_timeout_s=10.0, read_only=True)
            with self.engine.connect() as con:
                if "inspections" not in sa.inspect(con).get_table_names():
                    raise AoiError(f"no inspection log at {self.path} (no inspections table)")
                self.schema = schema_of(con)
                have = {c["name"] for c in sa.inspect(con).get_columns("inspections")}
            # a reader never migrates: an older log lacks the newer columns (schema 5's backend), which
            # then read as None instead of failing the query
            self._columns = [c for c in inspections.c if c.name in have]
        except AoiError:
            self.close()
            raise
        except Exception as exc:  # noqa: BLE001 - driver errors (corrupt file, server gone): one line
            self.close()
            raise AoiError(f"inspection log {self.path} is not readable: {why(exc)}") from exc

    def close(self) -> None:
        engine = getattr(self, "engine", None)
        if engine is not None:
            engine.dispose()

    def _fail(self, exc: Exception) -> AoiError:
        return AoiError(f"cannot read {self.path}: {why(exc)}")

    def records(self, f: Filters, newest_first: bool = False) -> Iterator[InspectionRecord]:
        c = inspections.c
        q = sa.select(*self._columns).where(*f.conditions())
        q = q.order_by(c.time_ns.desc() if newest_first else c.time_ns.asc(), c.id)
        if f.limit is not None:
            q = q.limit(int(f.limit))
        if f.offset:
            q = q.offset(int(f.offset))
        try:
            with self.engine.connect() as con:
                for row in con.execution_options(yield_per=500).execute(q):
                    yield InspectionRecord.from_row(row)
        except sa.exc.SQLAlchemyError as exc:
            raise self._fail(exc) from exc

    def count(self, f: Filters | None = None) -> int:
        """How many rows `f` matches (all rows without it)."""
        q = sa.select(sa.func.count()).select_from(inspections).where(*(f or Filters()).conditions())
        try:
            with self.engine.connect() as con:
                return int(con.execute(q).scalar() or 0)
        except sa.exc.SQLAlchemyError as exc:
            raise self._fail(exc) from exc

    def counts(self, f: Filters) -> dict[str, int]:
        """{"inspected", "OK", "NG"} of the rows `f` matches: one indexed COUNT, cheap enough to run
        for a whole shift (where `stats` reads every row)."""
        c = inspections.c
        q = sa.select(c.verdict, sa.func.count()).where(*f.conditions()).group_by(c.verdict)
        try:
            with self.engine.connect() as con:
                d = {"OK": 0, "NG": 0, **{str(v): int(n) for v, n in con.execute(q)}}
        except sa.exc.SQLAlchemyError as exc:
            raise self._fail(exc) from exc
        d["inspected"] = sum(n for k, n in d.items())
        return d

    def stats(self, f: Filters) -> dict[str, Any]:
        """Count, yield, NG by largest-defect area, and per local hour."""
        c = inspections.c
        q = sa.select(c.time_ns, c.time_local, c.verdict, c.max_area_px).where(*f.conditions())
        total: Counter[str] = Counter()
        by_area: Counter[str] = Counter()
        hours: dict[str, Counter[str]] = {}
        try:
            with self.engine.connect() as con:
                rows = con.execute(q).all()
        except sa.exc.SQLAlchemyError as exc:
            raise self._fail(exc) from exc
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

    def verify(self, station: str | None = None) -> list[str]:
        """Problems found (empty = all is well): SQLite's integrity check, the schema, and every image
        path a row points to. On a shared server only the rows of `station` (default: this one) have
        their images checked: the others' images are on their own disks."""
        problems: list[str] = []
        c = inspections.c
        try:
            with self.engine.connect() as con:
                if con.dialect.name == "sqlite":
                    result = [r[0] for r in con.exec_driver_sql("PRAGMA integrity_check")]
                    if result != ["ok"]:
                        problems += [f"integrity: {r}" for r in result[:20]]
                if self.schema > SCHEMA_VERSION:
                    problems.append(f"schema {self.schema} is newer than this aoi-station ({SCHEMA_VERSION})")
                q = sa.select(c.id, c.image_path).where(c.image_path.is_not(None)).order_by(c.id)
                if con.dialect.name != "sqlite":
                    q = q.where(c.station == (station or default_station_id()))
                elif station is not None:
                    q = q.where(c.station == station)
                for rid, path in con.execution_options(yield_per=1000).execute(q):
                    p = Path(path)
                    if not p.is_absolute():
                        p = self.directory / p
                    if not p.is_file():
                        problems.append(f"record {rid}: image {path} is missing")
        except sa.exc.SQLAlchemyError as exc:
            problems.append(f"database: {why(exc)}")
        return problems


EXPORT_FORMATS = ("csv", "jsonl")


def write_export(records: Iterable[InspectionRecord], fh: IO[str], fmt: str = "csv") -> int:
    """Write records to an open text file as CSV (one column per field, defects and timings as JSON)
    or JSON lines; returns how many were written. The one exporter of the CLI and the GUI."""
    if fmt not in EXPORT_FORMATS:
        raise AoiError(f"unknown export format {fmt!r}: use one of {', '.join(EXPORT_FORMATS)}")
    names = [f.name for f in fields(InspectionRecord)]
    writer = None
    if fmt == "csv":
        writer = csv.DictWriter(fh, fieldnames=names)
        writer.writeheader()
    n = 0
    for rec in records:
        d = {k: getattr(rec, k) for k in names}  # shallow: asdict's deep copy was most of the time
        if writer is not None:
            d["defects"] = json.dumps(d["defects"])
            d["timings"] = json.dumps(d["timings"])
            writer.writerow(d)
        else:
            fh.write(json.dumps(d) + "\n")
        n += 1
    return n
