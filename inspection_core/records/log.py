"""SQLite inspection log: one row per inspected frame, plus an audit trail of operator actions.

WAL mode with synchronous=NORMAL: a committed transaction survives a killed process (kill -9, crash);
only a power cut can lose the last commits. Rows are written in batches (`append_many`, one
transaction each) by the `Recorder`; how much a kill can lose is stated there. One connection per
thread (sqlite3 objects must stay on their thread).

The schema is versioned (`meta.schema_version` and `PRAGMA user_version`); opening an older log
migrates it in place, a newer one is refused.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
import time
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from inspection_core.errors import AoiError
from inspection_core.types import InspectionResult

SCHEMA_VERSION = 2
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
# columns added by schema 2 (ALTER TABLE keeps the rows of a schema-1 log)
_V2_COLUMNS = (
    ("time_utc", "TEXT"),
    ("time_local", "TEXT"),
    ("station", "TEXT"),
    ("camera_serial", "TEXT"),
    ("recipe_version", "INTEGER"),
    ("model_hash", "TEXT"),
    ("margin", "REAL"),
    ("image_threshold", "REAL"),
    ("pixel_threshold", "REAL"),
    ("alarm", "TEXT"),
    ("max_area_px", "INTEGER"),
    ("timings", "TEXT"),
)
_V2_INDEXES = """
CREATE INDEX IF NOT EXISTS inspections_recipe ON inspections(recipe);
CREATE INDEX IF NOT EXISTS inspections_image ON inspections(image_path) WHERE image_path IS NOT NULL;
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
_INSERT = f"INSERT INTO inspections ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"


def default_station_id() -> str:
    """`$AOI_STATION_ID`, else the host name: what tells one station's rows from another's."""
    return os.environ.get("AOI_STATION_ID") or socket.gethostname() or "station"


@dataclass(frozen=True)
class RecordContext:
    """What the caller knows about a result that the result itself does not: where the frame came from
    and which recipe and thresholds judged it. Built once per recipe/inspector change, not per frame."""

    source: str = ""
    camera_serial: str = ""
    recipe: str = ""
    recipe_version: int | None = None
    model_hash: str = ""
    image_threshold: float | None = None
    pixel_threshold: float | None = None
    station: str = field(default_factory=default_station_id)


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
    margin: float | None = None
    image_threshold: float | None = None
    pixel_threshold: float | None = None
    alarm: str | None = None
    max_area_px: int | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> InspectionRecord:
        known = {f.name for f in fields(cls)}
        d = {k: v for k, v in dict(row).items() if k in known}  # a newer schema's extra columns: ignored
        d["defects"] = json.loads(d.get("defects") or "[]")
        d["timings"] = json.loads(d.get("timings") or "{}")
        for k in ("source", "recipe", "model"):
            d[k] = d.get(k) or ""
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


def migrate(con: sqlite3.Connection, path: Path) -> None:
    """Create or upgrade the schema to SCHEMA_VERSION (one transaction); AoiError for a newer log."""
    con.executescript(_SCHEMA)
    row = con.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    found = SCHEMA_VERSION if row is None else int(row[0])
    if row is not None and found > SCHEMA_VERSION:
        raise AoiError(f"{path}: inspection log from a newer aoi-station (schema {found})")
    have = {r[1] for r in con.execute("PRAGMA table_info(inspections)")}
    for name, kind in _V2_COLUMNS:
        if name not in have:
            con.execute(f"ALTER TABLE inspections ADD COLUMN {name} {kind}")
    con.executescript(_V2_INDEXES)
    con.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
    con.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
    con.commit()


class InspectionLog:
    """Append-only log of inspections. Thread-safe: each thread gets its own connection."""

    def __init__(self, path: str | Path, lock_timeout_s: float = 10.0) -> None:
        self.path = Path(path)
        self.lock_timeout_s = lock_timeout_s
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        try:
            migrate(self._con(), self.path)
        except sqlite3.DatabaseError as exc:
            self.close()
            raise AoiError(f"inspection log {self.path} is not usable: {exc}") from exc

    def _con(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            con = sqlite3.connect(self.path, timeout=self.lock_timeout_s)
            con.row_factory = sqlite3.Row
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            self._local.con = con
        return con

    def append_many(self, rows: list[tuple[Any, ...]], removed_images: list[str] | None = None) -> None:
        """Write rows made by `make_row` in one transaction: all or none (sqlite3.Error passes through,
        the transaction rolled back, so the caller can count what was lost). `removed_images`: image
        paths the store's retention deleted; their rows (also those in `rows`) lose the path and say so."""
        con = self._con()
        with con:  # commits, or rolls back on any error
            con.executemany(_INSERT, rows)
            if removed_images:
                con.executemany(
                    "UPDATE inspections SET image_path = NULL, note = ? WHERE image_path = ?",
                    [(REMOVED_NOTE, p) for p in removed_images],
                )

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
            self.append_many([row])
        except sqlite3.Error as exc:  # disk full, locked, read-only, corrupt
            raise AoiError(f"cannot write the inspection log {self.path}: {exc}") from exc
        return int(self._con().execute("SELECT last_insert_rowid()").fetchone()[0])

    def audit(self, action: str, details: dict[str, Any] | None = None, user: str = "") -> None:
        """Record an operator/engineer action (deploy recipe, change threshold, reset counters…)."""
        con = self._con()
        with con:
            con.execute(
                "INSERT INTO audit (time_ns, user, action, details) VALUES (?,?,?,?)",
                (time.time_ns(), user, action, json.dumps(details or {})),
            )

    def recent(self, limit: int = 100, verdict: str | None = None) -> list[InspectionRecord]:
        q = "SELECT * FROM inspections"
        args: tuple[Any, ...] = ()
        if verdict:
            q += " WHERE verdict = ?"
            args = (verdict,)
        q += " ORDER BY id DESC LIMIT ?"
        rows = self._con().execute(q, (*args, int(limit))).fetchall()
        return [InspectionRecord.from_row(r) for r in rows]

    def count(self) -> int:
        return int(self._con().execute("SELECT COUNT(*) FROM inspections").fetchone()[0])

    def counts(self, since_ns: int = 0) -> dict[str, int]:
        rows = (
            self._con()
            .execute(
                "SELECT verdict, COUNT(*) FROM inspections WHERE time_ns >= ? GROUP BY verdict", (since_ns,)
            )
            .fetchall()
        )
        d = {"OK": 0, "NG": 0}
        d.update({v: int(n) for v, n in rows})
        d["inspected"] = d["OK"] + d["NG"]
        return d

    def audit_trail(self, limit: int = 100) -> list[tuple[int, str, str, dict[str, Any]]]:
        rows = (
            self._con()
            .execute(
                "SELECT time_ns, user, action, details FROM audit ORDER BY id DESC LIMIT ?", (int(limit),)
            )
            .fetchall()
        )
        return [(r[0], r[1] or "", r[2], json.loads(r[3] or "{}")) for r in rows]

    def close(self) -> None:
        """Close this thread's connection (other threads' connections close with their thread)."""
        con = getattr(self._local, "con", None)
        if con is not None:
            con.close()
            self._local.con = None
