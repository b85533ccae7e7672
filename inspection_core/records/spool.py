"""Spool: rows the database refused, kept on the station's disk until the database commits them, so
a database outage followed by a kill (kill -9, power cut) loses no inspection result.

A small SQLite file (`spool.sqlite` in the records folder), written only by the recorder's writer
thread, `synchronous=FULL` so a committed append survives a power cut. Each row is stored as JSON keyed
by column name, so a spool written before a schema upgrade is still replayed (missing columns: NULL).
A file that is not a spool (foreign, corrupt) raises SpoolError and is set aside, never deleted.

- One recorder at a time: the spool holds SQLite's exclusive lock on its file while open, so a second
  recorder on the same folder (another station process) cannot replay the same rows twice; it gets
  SpoolBusy and keeps its refused rows in memory. The OS drops the lock when a process dies (kill -9).
- It stops taking rows while the disk has less than `min_free_mb` free, so a long outage cannot fill the
  station's disk (rows are ~1 kB; the recorder then holds them in memory, a bounded number).
- The file exists only while rows wait: once drained it is deleted (`discard`), so the disk keeps no
  grown-then-emptied spool.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

from inspection_core.records.db import RecordsDBError
from inspection_core.records.log import COLUMNS
from inspection_core.records.store import free_mb

SPOOL_NAME = "spool.sqlite"
_APP_ID = 0x414F4953  # "AOIS": marks the file as ours (PRAGMA application_id)


class SpoolError(RecordsDBError):
    """The spool file cannot be used (not a spool, corrupt, unwritable)."""


class SpoolBusy(SpoolError):
    """Another recorder (another process) holds the spool: it is theirs to replay, not to set aside."""


SPOOL_MIN_FREE_MB = 50.0  # the free space the spool leaves on the station's disk


class Spool:
    """Append-only queue of rows on disk, oldest first; `head` + `remove` once the database has them."""

    def __init__(self, path: str | Path, min_free_mb: float = SPOOL_MIN_FREE_MB) -> None:
        self.path = Path(path)
        self.min_free_mb = min_free_mb
        new = not self.path.exists()
        try:
            self._con = sqlite3.connect(self.path, timeout=0.2, check_same_thread=False, isolation_level=None)
        except sqlite3.Error as exc:
            raise SpoolError(f"record spool {self.path} cannot be opened: {exc}") from exc
        try:
            self._con.execute("PRAGMA locking_mode=EXCLUSIVE")  # kept until close: one recorder per file
            try:
                self._con.execute("BEGIN EXCLUSIVE")
                self._con.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                raise SpoolBusy(
                    f"record spool {self.path} is held by another recorder on this folder "
                    "(another station process?)"
                ) from exc
            self._con.execute("PRAGMA synchronous=FULL")
            if new or self._con.execute("PRAGMA application_id").fetchone()[0] == 0 and not self._tables():
                self._con.execute(f"PRAGMA application_id={_APP_ID}")
                self._con.execute(
                    "CREATE TABLE IF NOT EXISTS spool (seq INTEGER PRIMARY KEY, row TEXT NOT NULL)"
                )
            elif (
                self._con.execute("PRAGMA application_id").fetchone()[0] != _APP_ID
                or "spool" not in self._tables()
            ):
                raise SpoolError(f"record spool {self.path} is not an aoi-station spool")
            self.count = self._con.execute("SELECT COUNT(*) FROM spool").fetchone()[0]
        except SpoolError:
            self._con.close()
            raise
        except sqlite3.Error as exc:
            self._con.close()
            raise SpoolError(f"record spool {self.path} is not usable: {exc}") from exc

    def _tables(self) -> set[str]:
        return {r[0] for r in self._con.execute("SELECT name FROM sqlite_master WHERE type='table'")}

    def append(self, rows: list[tuple[Any, ...]]) -> None:
        """Keep rows (in COLUMNS order) durably, in one transaction: all or none (SpoolError)."""
        if not rows:
            return
        free = self.free_mb()
        if free < self.min_free_mb:
            raise SpoolError(
                f"record spool {self.path} not written: only {free:.0f} MB free on its disk "
                f"(it leaves {self.min_free_mb:.0f} MB)"
            )
        data = [(json.dumps(dict(zip(COLUMNS, r, strict=True))),) for r in rows]
        try:
            with self._con:
                self._con.execute("BEGIN IMMEDIATE")
                self._con.executemany("INSERT INTO spool (row) VALUES (?)", data)
        except sqlite3.Error as exc:
            raise SpoolError(f"cannot write the record spool {self.path}: {exc}") from exc
        self.count += len(rows)

    def head(self, n: int) -> tuple[int, list[tuple[Any, ...]]]:
        """(the last seq read, the oldest `n` rows in COLUMNS order)."""
        try:
            got = self._con.execute("SELECT seq, row FROM spool ORDER BY seq LIMIT ?", (n,)).fetchall()
            rows = [tuple(d.get(c) for c in COLUMNS) for d in (json.loads(r) for _, r in got)]
        except (sqlite3.Error, ValueError) as exc:
            raise SpoolError(f"cannot read the record spool {self.path}: {exc}") from exc
        return (got[-1][0] if got else 0), rows

    def remove(self, upto: int) -> None:
        """Forget the rows up to seq `upto` (the database committed them)."""
        try:
            with self._con:
                n = self._con.execute("DELETE FROM spool WHERE seq <= ?", (upto,)).rowcount
        except sqlite3.Error as exc:
            raise SpoolError(f"cannot write the record spool {self.path}: {exc}") from exc
        self.count -= n

    def free_mb(self) -> float:
        try:
            return free_mb(self.path.parent)
        except OSError:
            return float("inf")  # unknown: the write itself will say whether there is room

    def discard(self) -> None:
        """Delete the drained file (SpoolError if rows still wait). Where the OS allows, it is unlinked
        while still locked, so no other recorder can open it in between and write rows into a deleted
        file; elsewhere (Windows) closed first. A failed delete leaves an empty spool, harmless."""
        if self.count:
            raise SpoolError(f"record spool {self.path} still holds {self.count} rows")
        early = os.name != "nt"
        try:
            if early:
                self.path.unlink(missing_ok=True)
        except OSError:
            early = False
        finally:
            self._con.close()
        if not early:
            with contextlib.suppress(OSError):
                self.path.unlink(missing_ok=True)

    def close(self) -> None:
        self._con.close()


def open_spool(path: Path, min_free_mb: float = SPOOL_MIN_FREE_MB) -> tuple[Spool | None, str | None]:
    """(the spool left at `path`, None) or (None, why): a file that is no usable spool is renamed to
    `<name>.bad-<unix time>` (kept for the operator, never deleted) so a fresh spool can be started;
    one another recorder holds is left to it; an empty one (drained, then killed before its delete)
    is deleted."""
    if not path.exists():
        return None, None
    try:
        spool = Spool(path, min_free_mb)
    except SpoolBusy as exc:
        return None, f"{exc}; rows this recorder's database refuses wait in memory"
    except SpoolError as exc:
        aside = path.with_name(f"{path.name}.bad-{int(time.time())}")
        try:
            path.rename(aside)
        except OSError as err:
            return None, f"{exc}; it could not be set aside ({err})"
        return None, f"{exc}; kept aside as {aside}"
    if spool.count:
        return spool, None
    spool.discard()
    return None, None
