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
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa

from inspection_core.errors import AoiError
from inspection_core.records.db import (
    display_url,
    is_sqlite,
    make_engine,
    read_engine,
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
    # one station's rows, or several stations' (a plant database holds many); None/() = every station
    station: str | tuple[str, ...] | None = None

    def stations(self) -> tuple[str, ...]:
        """The station filter as a tuple (empty = every station)."""
        if not self.station:
            return ()
        return (self.station,) if isinstance(self.station, str) else tuple(self.station)

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
        if st := self.stations():
            clauses.append(f"station IN ({', '.join('?' * len(st))})")
            args.extend(st)
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
        st = self.stations()
        if len(st) == 1:  # = keeps the (station, time_ns) index usable for ORDER BY time_ns … LIMIT
            out.append(c.station == st[0])
        elif st:
            out.append(c.station.in_(st))
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
    (or $AOI_RECORDS_URL) names. Image paths that are relative resolve against `directory`.

    `shared`: read through the process's kept engine for that store (`db.read_engine`; a GUI that
    re-reads every few seconds opens no new connection per read) instead of an engine of its own;
    `close` then leaves it open for the next reader."""

    def __init__(self, directory: str | Path, url: str | None = None, shared: bool = False) -> None:
        self.directory = Path(directory)
        self._own_engine = not shared
        self.url = records_url(self.directory, url)
        self.path: Path | str = sqlite_path(self.url) if is_sqlite(self.url) else display_url(self.url)
        if is_sqlite(self.url) and not Path(self.path).is_file():
            raise AoiError(f"no inspection log at {self.path} (use --records DIR or set AOI_STATION_HOME)")
        try:
            self.engine = (
                read_engine(self.url)
                if shared
                else make_engine(self.url, lock_timeout_s=10.0, read_only=True)
            )
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
        if engine is not None and self._own_engine:
            engine.dispose()

    def _fail(self, exc: Exception) -> AoiError:
        return AoiError(f"cannot read {self.path}: {why(exc)}")

    def select(self, f: Filters, newest_first: bool = False) -> sa.Select:
        """The query `records` runs (tests read its plan: a station filter uses (station, time_ns))."""
        c = inspections.c
        q = sa.select(*self._columns).where(*f.conditions())
        q = q.order_by(c.time_ns.desc() if newest_first else c.time_ns.asc(), c.id)
        if f.limit is not None:
            q = q.limit(int(f.limit))
        if f.offset:
            q = q.offset(int(f.offset))
        return q

    def records(self, f: Filters, newest_first: bool = False) -> Iterator[InspectionRecord]:
        q = self.select(f, newest_first)
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

    def stations(self) -> list[str]:
        """The stations that have rows, sorted (rows without one, from schema 1, are left out). A skip
        scan over the (station, time_ns) index: one index probe per station, not a read of every row,
        so the GUI can ask on each refresh of a plant database."""
        try:
            with self.engine.connect() as con:
                return [str(r[0]) for r in con.execute(sa.text(_STATIONS_SQL)) if r[0] is not None]
        except sa.exc.SQLAlchemyError as exc:
            raise self._fail(exc) from exc

    def stats(self, f: Filters, per_station: bool = False) -> dict[str, Any]:
        """Count, yield, NG by largest-defect area, and per local hour; with `per_station` also the same
        for each station under "stations" (one read of the rows for all of them)."""
        c = inspections.c
        q = sa.select(c.time_ns, c.time_local, c.verdict, c.max_area_px, c.station).where(*f.conditions())
        try:
            with self.engine.connect() as con:
                rows = con.execute(q).all()
        except sa.exc.SQLAlchemyError as exc:
            raise self._fail(exc) from exc
        out = _summary(rows)
        if per_station:
            by: dict[str, list[Any]] = {}
            for row in rows:
                by.setdefault(row[4] or "", []).append(row)
            out["stations"] = {name: _summary(by[name]) for name in sorted(by)}
        return out

    def check(self, station: str | tuple[str, ...] | None = None) -> VerifyReport:
        """What `aoi records verify` reports: the problems found and, as plainly, what was checked.

        SQLite: PRAGMA integrity_check (every page and index of the file). PostgreSQL: the file's
        integrity is the server's (page checksums, WAL, backups) and no client can check it cheaply, so
        this says so and checks what a client can: the server answers, the schema revision, the
        tables' columns, a count of the rows. Both: every image a row points to (on a server, only
        `station`'s rows — default this one — since the others' images are on their own disks)."""
        rep = VerifyReport(backend="sqlite" if is_sqlite(self.url) else "postgresql")
        c = inspections.c
        try:
            with self.engine.connect() as con:
                if con.dialect.name == "sqlite":
                    result = [r[0] for r in con.exec_driver_sql("PRAGMA integrity_check")]
                    if result != ["ok"]:
                        rep.problems += [f"integrity: {r}" for r in result[:20]]
                    else:
                        rep.checked.append("SQLite integrity_check ok")
                else:
                    version = con.exec_driver_sql("SHOW server_version").scalar()
                    sums = con.exec_driver_sql("SHOW data_checksums").scalar()
                    rep.checked.append(f"server reachable (PostgreSQL {version}, data checksums {sums})")
                    rep.notes.append(
                        "the database's own integrity (pages, indexes, WAL) is the server's job: not "
                        "checked here (use data checksums, pg_amcheck and backups on the server)"
                    )
                if self.schema > SCHEMA_VERSION:
                    rep.problems.append(
                        f"schema {self.schema} is newer than this aoi-station ({SCHEMA_VERSION})"
                    )
                elif self.schema < SCHEMA_VERSION:
                    rep.checked.append(
                        f"schema {self.schema} (older; a station upgrades it when it opens it)"
                    )
                else:
                    have = {col.name for col in self._columns}
                    missing = [col.name for col in inspections.c if col.name not in have]
                    if missing:
                        rep.problems.append(
                            f"schema {self.schema} but the inspections table lacks {', '.join(missing)}"
                        )
                    else:
                        rep.checked.append(f"schema {self.schema} (current), every column present")
                rep.count = int(
                    con.execute(sa.select(sa.func.count()).select_from(inspections)).scalar() or 0
                )
                q = sa.select(c.id, c.image_path).where(c.image_path.is_not(None)).order_by(c.id)
                if con.dialect.name != "sqlite":
                    station = station or default_station_id()
                if station:
                    rep.image_stations = Filters(station=station).stations()
                    q = q.where(*Filters(station=station).conditions())
                for rid, path in con.execution_options(yield_per=1000).execute(q):
                    rep.images += 1
                    p = Path(path)
                    if not p.is_absolute():
                        p = self.directory / p
                    if not p.is_file():
                        rep.problems.append(f"record {rid}: image {path} is missing")
        except sa.exc.SQLAlchemyError as exc:
            rep.problems.append(f"database: {why(exc)}")
        return rep

    def verify(self, station: str | tuple[str, ...] | None = None) -> list[str]:
        """The problems `check` finds (empty = all is well)."""
        return self.check(station).problems


@dataclass
class VerifyReport:
    """What a verify run checked and found, per backend (so "ok" never claims a check that did not run)."""

    backend: str
    problems: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)  # what was checked and passed, one phrase each
    notes: list[str] = field(default_factory=list)  # what was not checked, and whose job it is
    count: int | None = None  # rows in the store (all stations)
    images: int = 0  # image paths checked
    image_stations: tuple[str, ...] = ()  # whose rows' images were checked (empty: every row's)


# the distinct stations by a recursive skip scan of the (station, time_ns) index (SQLite and PostgreSQL
# both run it as one index probe per station; SELECT DISTINCT would read the whole index)
_STATIONS_SQL = """
WITH RECURSIVE s(station) AS (
    SELECT min(station) FROM inspections
    UNION ALL
    SELECT (SELECT min(i.station) FROM inspections i WHERE i.station > s.station)
    FROM s WHERE s.station IS NOT NULL
)
SELECT station FROM s WHERE station IS NOT NULL
"""


def _summary(rows: Iterable[Any]) -> dict[str, Any]:
    """Count, yield, NG by largest-defect area and per local hour of (time_ns, time_local, verdict,
    max_area_px, …) rows."""
    total: Counter[str] = Counter()
    by_area: Counter[str] = Counter()
    hours: dict[str, Counter[str]] = {}
    for t_ns, local, verdict, area, *_ in rows:
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
