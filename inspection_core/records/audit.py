"""The audit trail: who changed what on the station, when, from which value to which, under which recipe.

One row per change (a threshold applied, an ROI drawn, a recipe deployed or switched, a camera setting, a
PIN set, a sample sent to the good set) in the records store's ``audit`` table (schema 4): the SQLite file
`<station home>/records/inspections.sqlite`, or the plant's PostgreSQL database with `AOI_RECORDS_URL`,
beside the inspection rows and migrated by the same Alembic revisions. The GUI writes a row the moment
a change is made; changes are rare, so one short transaction per row is cheap and never waits on the
recorder's batches for long (WAL on SQLite).

Values are stored as JSON text, so ``old`` and ``new`` may be numbers, strings, lists or small dicts.
Rows from before schema 4 (action + details) read back with their details as the note.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from inspection_core.errors import AoiError
from inspection_core.records.db import (
    display_url,
    is_sqlite,
    make_engine,
    migrate,
    records_url,
    sqlite_path,
    why,
)
from inspection_core.records.log import default_station_id
from inspection_core.records.schema import audit as audit_table
from inspection_core.runtime.home import station_home

_NAMES = ("id", "time_ns", "time_utc", "user", "role", "action", "target", "old", "new", "recipe",
          "recipe_version", "note", "details", "station")  # fmt: skip


class AuditError(AoiError):
    """The audit trail cannot be opened, read or written."""


def default_records_dir() -> Path:
    """`<station home>/records`: where the station's records (and so its audit trail) live."""
    return station_home() / "records"


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
    station: str = ""

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
    """The audit table of the records store in `directory` (default: the station home's), or at `url`
    ($AOI_RECORDS_URL wins, as for the inspection records). Thread-safe; the schema is created or
    migrated on the first write, never by a read."""

    def __init__(self, directory: str | Path | None = None, url: str | None = None) -> None:
        self.url = records_url(Path(directory) if directory is not None else default_records_dir(), url)
        self.where = display_url(self.url)
        self._lock = threading.Lock()
        self._engine: sa.Engine | None = None
        self._migrated = False

    def _writer(self) -> sa.Engine:
        if self._engine is None:
            try:
                self._engine = make_engine(self.url)
            except sa.exc.SQLAlchemyError as exc:
                raise AuditError(f"cannot open the audit trail {self.where}: {why(exc)}") from exc
        if not self._migrated:
            try:
                migrate(self._engine, self.where)
            except AoiError as exc:
                raise AuditError(f"audit trail: {exc}") from exc
            except sa.exc.SQLAlchemyError as exc:
                raise AuditError(f"cannot open the audit trail {self.where}: {why(exc)}") from exc
            self._migrated = True
        return self._engine

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
        row = {
            "time_ns": t, "time_utc": utc, "station": default_station_id(), "user": user or role,
            "role": role, "action": action, "target": target, "old": _dump(old), "new": _dump(new),
            "recipe": recipe, "recipe_version": None if recipe_version is None else int(recipe_version),
            "note": note,
        }  # fmt: skip
        with self._lock:
            engine = self._writer()
            try:
                with engine.begin() as con:
                    rid = int(con.execute(audit_table.insert(), row).inserted_primary_key[0])
            except sa.exc.SQLAlchemyError as exc:
                raise AuditError(f"cannot write to the audit trail {self.where}: {why(exc)}") from exc
        return AuditEntry(rid, t, utc, row["user"], role, action, target, old, new, recipe,
                          row["recipe_version"], note, row["station"])  # fmt: skip

    def entries(
        self,
        limit: int | None = 200,
        *,
        action: str | None = None,
        user: str | None = None,
        since_ns: int | None = None,
    ) -> list[AuditEntry]:
        """Newest first, optionally only one action or user, or from a time on. Empty if no store yet.
        Reads as the store is (an older schema's missing columns read as empty)."""
        if is_sqlite(self.url) and not sqlite_path(self.url).exists():
            return []
        engine = None
        try:
            engine = self._engine if self._migrated else make_engine(self.url, read_only=True)
            with engine.connect() as con:
                insp = sa.inspect(con)
                if "audit" not in insp.get_table_names():
                    return []
                have = {c["name"] for c in insp.get_columns("audit")}
                c = audit_table.c
                q = sa.select(*[c[n] for n in _NAMES if n in have])
                for col, val in ((c.action, action), (c.user, user)):
                    if val:
                        q = q.where(col == val)
                if since_ns is not None:
                    q = q.where(c.time_ns >= int(since_ns))
                q = q.order_by(c.id.desc())
                if limit is not None:
                    q = q.limit(int(limit))
                rows = [r._mapping for r in con.execute(q)]
        except sa.exc.SQLAlchemyError as exc:
            raise AuditError(f"cannot read the audit trail {self.where}: {why(exc)}") from exc
        finally:
            if engine is not None and engine is not self._engine:
                engine.dispose()
        return [_entry(r) for r in rows]

    def close(self) -> None:
        """Close the pooled connections (a later call opens new ones)."""
        if self._engine is not None:
            self._engine.dispose()


def _entry(r: Any) -> AuditEntry:
    t = int(r["time_ns"])
    utc = r.get("time_utc") or datetime.fromtimestamp(t / 1e9, UTC).isoformat(
        timespec="milliseconds"
    ).replace("+00:00", "Z")
    details = r.get("details")
    note = r.get("note") or ("" if details in (None, "", "{}") else details)
    return AuditEntry(
        int(r["id"]), t, utc, r.get("user") or "", r.get("role") or "", r["action"], r.get("target") or "",
        _load(r.get("old")), _load(r.get("new")), r.get("recipe"), r.get("recipe_version"), note,
        r.get("station") or "",
    )  # fmt: skip
