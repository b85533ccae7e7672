"""The audit trail: who changed what on the station, when, from which value to which, under which recipe.

One row per change (a threshold applied, an ROI drawn, a recipe deployed or switched, a camera setting, a
PIN set, a sample sent to the good set), kept in its own SQLite file next to the inspection records
(`<station home>/records/audit.sqlite`, table ``audit``). A separate file keeps the trail independent of
the inspection log's schema and of its writer thread: the GUI writes a row the moment a change is made,
and a change is rare, so one short transaction per row is cheap. WAL mode: a committed row survives a
killed process.

Values are stored as JSON text, so ``old`` and ``new`` may be numbers, strings, lists or small dicts.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from inspection_core.errors import AoiError
from inspection_core.runtime.home import station_home

AUDIT_FILE = "audit.sqlite"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time_ns INTEGER NOT NULL,
    time_utc TEXT NOT NULL,
    user TEXT NOT NULL,
    role TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    old TEXT,
    new TEXT,
    recipe TEXT,
    recipe_version INTEGER,
    note TEXT
);
CREATE INDEX IF NOT EXISTS audit_time ON audit(time_ns);
"""
_COLUMNS = (
    "id",
    "time_ns",
    "time_utc",
    "user",
    "role",
    "action",
    "target",
    "old",
    "new",
    "recipe",
    "recipe_version",
    "note",
)


class AuditError(AoiError):
    """The audit trail cannot be opened, read or written."""


def default_audit_path() -> Path:
    """`<station home>/records/audit.sqlite`: beside the inspection log, read by `aoi audit list`."""
    return station_home() / "records" / AUDIT_FILE


@dataclass(frozen=True)
class AuditEntry:
    """One change. `old`/`new` are the decoded JSON values (None when there was none)."""

    id: int
    time_ns: int
    time_utc: str
    user: str
    role: str
    action: str
    target: str
    old: Any
    new: Any
    recipe: str | None
    recipe_version: int | None
    note: str

    def change_text(self) -> str:
        """``old → new`` for people (values as JSON, so strings are quoted and None reads null)."""
        return f"{_show(self.old)} → {_show(self.new)}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _show(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)


def _dump(value: Any) -> str | None:
    if value is None:
        return None
    try:
        return json.dumps(value, sort_keys=True, default=str)
    except (TypeError, ValueError) as exc:
        raise AuditError(f"cannot record {type(value).__name__} in the audit trail: {exc}") from exc


def _load(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


class AuditLog:
    """Append-only audit trail in `path` (created with its folder on first use). Thread-safe."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_audit_path()
        self._lock = threading.Lock()
        self._ready = False

    def _connect(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            con = sqlite3.connect(self.path, timeout=10.0)
            if not self._ready:
                con.execute("PRAGMA journal_mode=WAL")
                con.executescript(_SCHEMA)
                self._ready = True
        except (OSError, sqlite3.Error) as exc:
            raise AuditError(f"cannot open the audit trail {self.path}: {exc}") from exc
        return con

    def record(
        self,
        action: str,
        target: str = "",
        old: Any = None,
        new: Any = None,
        *,
        user: str = "",
        role: str = "operator",
        recipe: str | None = None,
        recipe_version: int | None = None,
        note: str = "",
        time_ns: int | None = None,
    ) -> AuditEntry:
        """Write one change now (its own transaction); returns it as stored."""
        if not action:
            raise AuditError("an audit entry needs an action")
        t = time.time_ns() if time_ns is None else int(time_ns)
        utc = datetime.fromtimestamp(t / 1e9, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        row = (t, utc, user or role, role, action, target, _dump(old), _dump(new), recipe,
               None if recipe_version is None else int(recipe_version), note)  # fmt: skip
        with self._lock:
            con = self._connect()
            try:
                with con:
                    cur = con.execute(
                        "INSERT INTO audit (time_ns, time_utc, user, role, action, target, old, new, "
                        "recipe, recipe_version, note) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                        row,
                    )
                rid = int(cur.lastrowid or 0)
            except sqlite3.Error as exc:
                raise AuditError(f"cannot write to the audit trail {self.path}: {exc}") from exc
            finally:
                con.close()
        return AuditEntry(rid, t, utc, row[2], role, action, target, old, new, recipe, row[9], note)

    def entries(
        self,
        limit: int | None = 200,
        *,
        action: str | None = None,
        user: str | None = None,
        since_ns: int | None = None,
    ) -> list[AuditEntry]:
        """Newest first, optionally only one action or user, or from a time on. Empty if no trail yet."""
        if not self.path.exists():
            return []
        where, args = [], []
        for col, val in (("action", action), ("user", user)):
            if val:
                where.append(f"{col} = ?")
                args.append(val)
        if since_ns is not None:
            where.append("time_ns >= ?")
            args.append(int(since_ns))
        sql = f"SELECT {', '.join(_COLUMNS)} FROM audit"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with self._lock:
            con = self._connect()
            try:
                rows = con.execute(sql, args).fetchall()
            except sqlite3.Error as exc:
                raise AuditError(f"cannot read the audit trail {self.path}: {exc}") from exc
            finally:
                con.close()
        return [
            AuditEntry(
                r[0], r[1], r[2], r[3], r[4], r[5], r[6], _load(r[7]), _load(r[8]), r[9], r[10], r[11] or ""
            )
            for r in rows
        ]
