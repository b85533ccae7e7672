"""SQLite inspection log: one row per inspected frame, plus an audit trail of operator actions.

WAL mode, one connection per thread (sqlite3 objects must stay on their thread), a row is committed
as soon as it is written — a crash loses at most the frame being inspected.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inspection_core.errors import AoiError
from inspection_core.types import InspectionResult

SCHEMA_VERSION = 1
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


@dataclass(frozen=True)
class InspectionRecord:
    id: int
    time_ns: int
    frame_id: int
    source: str
    recipe: str
    model: str
    score: float
    verdict: str
    n_defects: int
    defects: list[dict[str, Any]]
    image_path: str | None
    note: str | None


class InspectionLog:
    """Append-only log of inspections. Thread-safe: each thread gets its own connection."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        try:
            con = self._con()
            con.executescript(_SCHEMA)
            row = con.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if row is None:
                con.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            elif int(row[0]) > SCHEMA_VERSION:
                raise AoiError(f"{self.path}: inspection log from a newer aoi-station (schema {row[0]})")
            con.commit()
        except sqlite3.DatabaseError as exc:
            raise AoiError(f"inspection log {self.path} is not usable: {exc}") from exc

    def _con(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            con = sqlite3.connect(self.path, timeout=10)
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            self._local.con = con
        return con

    def append(
        self,
        result: InspectionResult,
        source: str = "",
        recipe: str = "",
        image_path: str | None = None,
        note: str | None = None,
        time_ns: int | None = None,
    ) -> int:
        """Write one row and commit; returns its id."""
        con = self._con()
        try:
            cur = con.execute(
                "INSERT INTO inspections (time_ns, frame_id, source, recipe, model, score, verdict, n_defects,"
                " defects, image_path, note) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    time_ns or time.time_ns(),
                    int(result.frame_id),
                    source,
                    recipe,
                    result.model_name,
                    float(result.score),
                    str(result.verdict),
                    len(result.defects),
                    json.dumps([d.to_dict() for d in result.defects]),
                    image_path,
                    note,
                ),
            )
            con.commit()
        except sqlite3.OperationalError as exc:  # disk full, locked, read-only
            raise AoiError(f"cannot write the inspection log {self.path}: {exc}") from exc
        return int(cur.lastrowid)

    def audit(self, action: str, details: dict[str, Any] | None = None, user: str = "") -> None:
        """Record an operator/engineer action (deploy recipe, change threshold, reset counters…)."""
        con = self._con()
        con.execute(
            "INSERT INTO audit (time_ns, user, action, details) VALUES (?,?,?,?)",
            (time.time_ns(), user, action, json.dumps(details or {})),
        )
        con.commit()

    def recent(self, limit: int = 100, verdict: str | None = None) -> list[InspectionRecord]:
        q = "SELECT * FROM inspections"
        args: tuple[Any, ...] = ()
        if verdict:
            q += " WHERE verdict = ?"
            args = (verdict,)
        q += " ORDER BY id DESC LIMIT ?"
        rows = self._con().execute(q, (*args, int(limit))).fetchall()
        return [
            InspectionRecord(
                r[0],
                r[1],
                r[2],
                r[3] or "",
                r[4] or "",
                r[5] or "",
                r[6],
                r[7],
                r[8],
                json.loads(r[9] or "[]"),
                r[10],
                r[11],
            )
            for r in rows
        ]

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
        con = getattr(self._local, "con", None)
        if con is not None:
            con.close()
            self._local.con = None
