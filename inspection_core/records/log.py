"""Inspection log: one row per inspected frame, plus an audit trail of operator actions.

SQLAlchemy Core on the tables of `records.schema`: by default an SQLite file in WAL mode with
synchronous=NORMAL (a committed transaction survives a killed process: kill -9, crash; only a power
cut can lose the last commits), or PostgreSQL when `AOI_RECORDS_URL=postgresql://…` is set (see
`records.db`). Rows are written in batches (`append_many`, one transaction each) by the `Recorder`;
how much a kill can lose is stated there. The engine's pool hands each thread its own connection.

The schema is versioned by Alembic (`records/migrations`); opening an older log (also one from
before Alembic: schema 1 or 2) migrates it in place, a newer one is refused.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from inspection_core.errors import AoiError
from inspection_core.records.db import (
    SCHEMA_VERSION,
    RecordsDBError,
    display_url,
    is_sqlite,
    make_engine,
    migrate,
    sqlite_path,
    why,
)
from inspection_core.records.schema import audit as audit_table
from inspection_core.records.schema import inspections
from inspection_core.types import InspectionResult

__all__ = ["SCHEMA_VERSION", "InspectionLog", "InspectionRecord", "RecordContext", "migrate"]

# schema 1 as aoi-station wrote it before Alembic (tests build such old logs to check the upgrade)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS inspections (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time_ns INTEGER NOT NULL,
    frame_id INTEGER NOT NULL,
    source TEXT,
    recipe TEXT,
    model TEXT,
    score REAL,
    verdict TEXT NOT NULL,
    n_defects INTEGER NOT NULL,
    defects TEXT,
    image_path TEXT,
    note TEXT
);
CREATE INDEX IF NOT EXISTS inspections_time ON inspections(time_ns);
CREATE INDEX IF NOT EXISTS inspections_verdict ON inspections(verdict);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time_ns INTEGER NOT NULL,
    user TEXT,
    action TEXT NOT NULL,
    details TEXT
);
"""
REMOVED_NOTE = "image removed by retention"

# the order append_many writes
COLUMNS = (
    "time_ns",
    "time_utc",
    "time_local",
    "station",
    "source",
    "camera_serial",
    "frame_id",
    "recipe",
    "recipe_version",
    "model",
    "model_hash",
    "backend",
    "verdict",
    "score",
    "margin",
    "image_threshold",
    "pixel_threshold",
    "alarm",
    "n_defects",
    "max_area_px",
    "defects",
    "timings",
    "image_path",
    "note",
)


def default_station_id() -> str:
    """`$AOI_STATION_ID`, else the host name: what tells one station's rows from another's."""
    return os.environ.get("AOI_STATION_ID") or socket.gethostname() or "station"


@dataclass(frozen=True)
class RecordContext:
    """What the caller knows about a result that the result itself does not: where the frame came from
    and which recipe and thresholds judged it. Built once per recipe/inspector change, not per frame.

    `backend`: the runtime that ran the model ('torch', 'onnxruntime', 'openvino'; `Inspector.backend`);
    "" = not known (stored as NULL, like the rows from before schema 5)."""

    source: str = ""
    camera_serial: str = ""
    recipe: str = ""
    recipe_version: int | None = None
    model_hash: str = ""
    backend: str = ""
    image_threshold: float | None = None
    pixel_threshold: float | None = None
    station: str = field(default_factory=default_station_id)


_MODEL_HASHES: dict[tuple[str, int, int], str] = {}


def model_hash(bundle: Any) -> str:
    """The "sha256:<hex>" of the model folder a bundle was loaded from (model.json + model.safetensors,
    `models.export.source_digest`): which exact model judged a part, a month later. Hashed once per
    folder version (path, weights mtime and size), since a model can be hundreds of MB; "" for a model
    trained in this process or a folder that cannot be read."""
    src = getattr(bundle, "source", None)
    if src is None:
        return ""
    from inspection_core.models.bundle import WEIGHTS

    try:
        st = (Path(src) / WEIGHTS).stat()
    except OSError:
        return ""
    key = (str(src), st.st_mtime_ns, st.st_size)
    if key not in _MODEL_HASHES:
        from inspection_core.models.export import source_digest

        try:
            _MODEL_HASHES[key] = "sha256:" + source_digest(src)
        except AoiError:
            return ""
    return _MODEL_HASHES[key]


def iso_times(time_ns: int) -> tuple[str, str]:
    """(UTC ISO 8601 with Z, local ISO 8601 with its offset) of an epoch time in ns."""
    dt = datetime.fromtimestamp(time_ns / 1e9, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), dt.astimezone().isoformat(timespec="microseconds")


def record_fields(
    result: InspectionResult,
    context: RecordContext,
    time_ns: int,
    image_path: str | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    """The facts of one inspection by column name (defects and timings as lists/dicts): the one place
    they are derived, shared by the log's rows (`make_row`) and the line's messages (`sinks.message`)."""
    utc, local = iso_times(time_ns)
    score = float(result.score)
    score_db = score if score == score else None  # NaN is stored as NULL (SQLite has no NaN)
    margin = (
        score - context.image_threshold
        if score_db is not None and context.image_threshold is not None
        else None
    )
    defects = [d.to_dict() for d in result.defects]
    return {
        "time_ns": int(time_ns),
        "time_utc": utc,
        "time_local": local,
        "station": context.station,
        "source": context.source,
        "camera_serial": context.camera_serial,
        "frame_id": int(result.frame_id),
        "recipe": context.recipe,
        "recipe_version": context.recipe_version,
        "model": result.model_name,
        "model_hash": context.model_hash,
        "backend": context.backend or None,
        "verdict": str(result.verdict),
        "score": score_db,
        "margin": margin,
        "image_threshold": context.image_threshold,
        "pixel_threshold": context.pixel_threshold,
        "alarm": result.alarm or None,
        "n_defects": len(defects),
        "max_area_px": max((d["area_px"] for d in defects), default=None),
        "defects": defects,
        "timings": {k: round(float(v), 3) for k, v in result.timings.items()},
        "image_path": image_path,
        "note": note,
    }


def make_row(
    result: InspectionResult,
    context: RecordContext,
    time_ns: int,
    image_path: str | None = None,
    note: str | None = None,
) -> tuple[Any, ...]:
    """One `inspections` row (in COLUMNS order) from a result and its context."""
    f = record_fields(result, context, time_ns, image_path, note)
    f["defects"] = json.dumps(f["defects"])
    f["timings"] = json.dumps(f["timings"])
    return tuple(f[c] for c in COLUMNS)


@dataclass(frozen=True)
class InspectionRecord:
    id: int
    time_ns: int
    frame_id: int
    source: str
    recipe: str
    model: str
    score: float | None
    verdict: str
    n_defects: int
    defects: list[dict[str, Any]]
    image_path: str | None
    note: str | None
    time_utc: str | None = None
    time_local: str | None = None
    station: str | None = None
    camera_serial: str | None = None
    recipe_version: int | None = None
    model_hash: str | None = None
    backend: str | None = None  # schema 5; None on older rows
    margin: float | None = None
    image_threshold: float | None = None
    pixel_threshold: float | None = None
    alarm: str | None = None
    max_area_px: int | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: Any) -> InspectionRecord:
        """From an SQLAlchemy Row (or anything dict() takes: a mapping, an sqlite3.Row)."""
        known = {f.name for f in fields(cls)}
        d = {
            k: v for k, v in dict(getattr(row, "_mapping", row)).items() if k in known
        }  # a newer schema's extra columns: ignored
        d["defects"] = json.loads(d.get("defects") or "[]")
        d["timings"] = json.loads(d.get("timings") or "{}")
        for k in ("source", "recipe", "model"):
            d[k] = d.get(k) or ""
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


def _insert_sql(paramstyle: str) -> str:
    """INSERT of one row in COLUMNS order, in the driver's placeholder style (sqlite3: ?, psycopg: %s)."""
    mark = "?" if paramstyle == "qmark" else "%s"
    return f"INSERT INTO inspections ({', '.join(COLUMNS)}) VALUES ({', '.join([mark] * len(COLUMNS))})"


class InspectionLog:
    """Append-only log of inspections; thread-safe (the engine's pool gives each thread a connection).

    `path`: the SQLite file; `url`: a database URL instead (postgresql://… or sqlite:///…); with
    neither, $AOI_RECORDS_URL. AoiError (RecordsDBError) when it cannot be opened or migrated.
    """

    def __init__(
        self, path: str | Path | None = None, lock_timeout_s: float = 10.0, url: str | None = None
    ) -> None:
        from inspection_core.records.db import records_url

        if url is None:
            url = f"sqlite:///{Path(path).expanduser()}" if path is not None else records_url()
        self.url = url
        self.where = display_url(url)
        self.path: Path | str = sqlite_path(url) if is_sqlite(url) else self.where
        self.lock_timeout_s = lock_timeout_s
        try:
            self.engine = make_engine(url, lock_timeout_s)
        except (sa.exc.SQLAlchemyError, ValueError, ImportError) as exc:
            raise RecordsDBError(f"inspection log {self.where} is not usable: {why(exc)}") from exc
        try:
            migrate(self.engine, self.where)
        except RecordsDBError:
            self.close()
            raise
        except Exception as exc:  # noqa: BLE001 - sqlite3/psycopg/alembic errors: one clear line
            self.close()
            raise RecordsDBError(f"inspection log {self.where} is not usable: {why(exc)}") from exc

    def append_many(self, rows: list[tuple[Any, ...]], removed_images: list[str] | None = None) -> None:
        """Write rows made by `make_row` in one transaction: all or none (RecordsDBError, the
        transaction rolled back, so the caller can count what was lost). `removed_images`: image
        paths the store's retention deleted; their rows (also those in `rows`) lose the path and say so."""
        try:
            with self.engine.begin() as con:  # commits, or rolls back on any error
                if rows:  # the driver's executemany on the rows as they are: ~2x the rows/s of insert()
                    con.exec_driver_sql(_insert_sql(con.dialect.paramstyle), rows)
                if removed_images:
                    c = inspections.c
                    con.execute(
                        inspections.update()
                        .where(c.image_path == sa.bindparam("gone"))
                        .values(image_path=None, note=REMOVED_NOTE),
                        [{"gone": p} for p in removed_images],
                    )
        except sa.exc.SQLAlchemyError as exc:  # disk full, locked, read-only, corrupt, server gone
            raise RecordsDBError(f"cannot write the inspection log {self.where}: {why(exc)}") from exc

    def append(
        self,
        result: InspectionResult,
        source: str = "",
        recipe: str = "",
        image_path: str | None = None,
        note: str | None = None,
        time_ns: int | None = None,
        context: RecordContext | None = None,
    ) -> int:
        """Write one row and commit; returns its id."""
        ctx = context or RecordContext(source=source, recipe=recipe)
        row = make_row(result, ctx, time_ns or time.time_ns(), image_path, note)
        try:
            with self.engine.begin() as con:
                res = con.execute(inspections.insert(), dict(zip(COLUMNS, row, strict=True)))
                return int(res.inserted_primary_key[0])
        except sa.exc.SQLAlchemyError as exc:
            raise RecordsDBError(f"cannot write the inspection log {self.where}: {why(exc)}") from exc

    def audit(self, action: str, details: dict[str, Any] | None = None, user: str = "") -> None:
        """Record an operator/engineer action (deploy recipe, change threshold, reset counters…)."""
        with self.engine.begin() as con:
            con.execute(
                audit_table.insert(),
                {
                    "time_ns": time.time_ns(),
                    "user": user,
                    "action": action,
                    "details": json.dumps(details or {}),
                },
            )

    def _rows(self, query: sa.Select) -> list[sa.Row]:
        with self.engine.connect() as con:
            return list(con.execute(query))

    def recent(self, limit: int = 100, verdict: str | None = None) -> list[InspectionRecord]:
        q = sa.select(inspections)
        if verdict:
            q = q.where(inspections.c.verdict == verdict)
        q = q.order_by(inspections.c.id.desc()).limit(int(limit))
        return [InspectionRecord.from_row(r) for r in self._rows(q)]

    def count(self) -> int:
        return int(self._rows(sa.select(sa.func.count()).select_from(inspections))[0][0])

    def counts(self, since_ns: int = 0) -> dict[str, int]:
        c = inspections.c
        q = sa.select(c.verdict, sa.func.count()).where(c.time_ns >= since_ns).group_by(c.verdict)
        d = {"OK": 0, "NG": 0}
        d.update({v: int(n) for v, n in self._rows(q)})
        d["inspected"] = d["OK"] + d["NG"]
        return d

    def audit_trail(self, limit: int = 100) -> list[tuple[int, str, str, dict[str, Any]]]:
        a = audit_table.c
        q = sa.select(a.time_ns, a.user, a.action, a.details).order_by(a.id.desc()).limit(int(limit))
        return [(r[0], r[1] or "", r[2], json.loads(r[3] or "{}")) for r in self._rows(q)]

    def close(self) -> None:
        """Close the pooled connections (a later call opens new ones)."""
        engine = getattr(self, "engine", None)
        if engine is not None:
            engine.dispose()
