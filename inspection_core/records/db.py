"""Where the records live and how a database gets there: URL, engine, Alembic migrations.

- Default: one SQLite file in the records folder, WAL mode with synchronous=NORMAL (a committed
  transaction survives kill -9; only a power cut can lose the last commits).
- `AOI_RECORDS_URL=postgresql://user@host/db` (or an explicit `url`): the same schema on PostgreSQL
  (psycopg 3), so several stations write to one plant database; rows tell stations apart by `station`.

The schema is versioned by Alembic from its first revision (`migrations/versions`, revision "0001" =
schema 1 …). A log written before Alembic (schema 1 or 2, `meta.schema_version`, no
`alembic_version` table) is stamped with its revision and upgraded in place, keeping its rows. A
database from a newer aoi-station (a revision this one does not know) is refused for writing.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from functools import cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import NullPool, QueuePool

from inspection_core.errors import AoiError

ENV_URL = "AOI_RECORDS_URL"
LOG_NAME = "inspections.sqlite"
SCHEMA_VERSION = 5  # = the newest Alembic revision, as a number
_MIGRATIONS = Path(__file__).resolve().parent / "migrations"
READER_APP_NAME = "aoi-station records reader"  # application_name of read-only connections
_LOCK_KEY = 0x414F4952  # "AOIR": one migrating station at a time on a shared PostgreSQL


class RecordsDBError(AoiError):
    """The records database cannot be opened, migrated, read or written."""


def records_url(directory: str | Path | None = None, url: str | None = None) -> str:
    """The database URL: `url`, else $AOI_RECORDS_URL, else the SQLite file in `directory`."""
    chosen = url or os.environ.get(ENV_URL, "").strip()
    if chosen:
        return chosen
    if directory is None:
        raise RecordsDBError(f"no records folder and no {ENV_URL} set")
    return f"sqlite:///{Path(directory).expanduser() / LOG_NAME}"


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def sqlite_path(url: str) -> Path:
    return Path(make_url(url).database or "")


def display_url(url: str) -> str:
    """The URL as messages show it: the file for SQLite, no password for a server."""
    if is_sqlite(url):
        return str(sqlite_path(url))
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a malformed URL is still worth naming
        return url.split("@")[-1]


def why(exc: BaseException) -> str:
    """The driver's own one-line message (SQLAlchemy's wrapper adds the SQL and a help link)."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def make_engine(
    url: str, lock_timeout_s: float = 10.0, read_only: bool = False, keep: bool = False
) -> Engine:
    """An engine for `url`; SQLite files in WAL mode (read-only: opened with mode=ro, never created,
    never changed), PostgreSQL through psycopg 3 (read-only: default_transaction_read_only).

    A read-only PostgreSQL engine closes each connection after use unless `keep` (a one-shot CLI read
    holds nothing open); with `keep` it keeps one, with TCP keepalives so a firewall neither drops it
    while idle nor leaves a dead one hanging (see `read_engine`)."""
    if is_sqlite(url):
        path = sqlite_path(url)
        if read_only:
            uri = f"{path.resolve().as_uri()}?mode=ro"

            def connect() -> sqlite3.Connection:
                return sqlite3.connect(uri, uri=True, timeout=lock_timeout_s, check_same_thread=False)

        else:
            path.parent.mkdir(parents=True, exist_ok=True)

            def connect() -> sqlite3.Connection:
                return sqlite3.connect(path, timeout=lock_timeout_s, check_same_thread=False)

        engine = sa.create_engine(
            "sqlite://", creator=connect, poolclass=QueuePool, pool_size=2, hide_parameters=True
        )
        if not read_only:

            @event.listens_for(engine, "connect")
            def _wal(dbapi_con: sqlite3.Connection, _record: Any) -> None:
                dbapi_con.execute("PRAGMA journal_mode=WAL")
                dbapi_con.execute("PRAGMA synchronous=NORMAL")

        return engine
    u = make_url(url)
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    if not u.drivername.startswith("postgresql"):
        raise RecordsDBError(f"{display_url(url)}: records need SQLite or PostgreSQL (postgresql://…)")
    args: dict[str, Any] = {"connect_timeout": max(1, round(lock_timeout_s))}
    opts = [f"-c lock_timeout={int(lock_timeout_s * 1000)}"]
    pool: dict[str, Any] = {"poolclass": QueuePool}
    if read_only:
        opts.append("-c default_transaction_read_only=on")
        # a plant DBA sees whose connection it is; what the URL itself says (?keepalives_idle=…) wins
        extra: dict[str, Any] = {"application_name": READER_APP_NAME}
        if keep:
            extra |= {
                "keepalives": 1,
                "keepalives_idle": 30,
                "keepalives_interval": 10,
                "keepalives_count": 3,
            }
            pool |= {"pool_size": 1, "max_overflow": 2}
        else:
            pool = {"poolclass": NullPool}
        args |= {k: v for k, v in extra.items() if k not in u.query}
    args["options"] = " ".join(opts)
    return sa.create_engine(u, connect_args=args, pool_pre_ping=True, hide_parameters=True, **pool)


_read_engines: dict[str, tuple[tuple[int, int] | None, Engine]] = {}
_read_lock = threading.Lock()


def _file_identity(url: str) -> tuple[int, int] | None:
    """A SQLite file's (device, inode): a log deleted and made anew is another file, whose reader must
    not go on reading the old one through a kept connection. None for a server (or no file yet)."""
    if not is_sqlite(url):
        return None
    try:
        st = sqlite_path(url).stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino


def read_engine(url: str) -> Engine:
    """The process's one read-only engine for the store `url`, shared by every read (thread-safe).

    The GUI reads its records page every few seconds; a fresh engine per read meant a new connection
    per query — on a plant PostgreSQL server a login and a backend process each time, per station.
    This one's pool keeps a connection open between reads; pool_pre_ping replaces one the server
    dropped (restart, pg_terminate_backend) at the next read. SQLite stays mode=ro, and a kept
    connection holds no transaction between reads, so the writer and its checkpoints go on.
    `dispose_read_engines` closes them (at shutdown)."""
    ident = _file_identity(url)
    with _read_lock:
        held = _read_engines.get(url)
        if held is not None and held[0] == ident:
            return held[1]
        engine = make_engine(url, lock_timeout_s=10.0, read_only=True, keep=True)
        _read_engines[url] = (ident, engine)
    if held is not None:
        held[1].dispose()  # the file was replaced: drop the connections to the old one
    return engine


def dispose_read_engines() -> None:
    """Close every kept read connection (app exit, a closed records panel); the next `read_engine`
    call opens the store again. A read in flight on another thread finishes on its own connection."""
    with _read_lock:
        engines = [e for _, e in _read_engines.values()]
        _read_engines.clear()
    for engine in engines:
        engine.dispose()


@cache
def _heads() -> tuple[list[str], str]:
    """(every known revision, oldest first; the head). Read once per process: parsing the revision
    files costs a few ms, and a reopening recorder must stay cheap."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(_MIGRATIONS))
    revs = [r.revision for r in reversed(list(script.walk_revisions()))]
    return revs, script.get_current_head() or ""


def _config(connection: sa.Connection) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def _legacy_revision(con: sa.Connection) -> str | None:
    """The revision of a log made before Alembic (meta.schema_version), or None for an empty one."""
    names = set(sa.inspect(con).get_table_names())
    if "inspections" not in names:
        return None
    version = 1
    if "meta" in names:
        row = con.execute(sa.text("SELECT value FROM meta WHERE key = 'schema_version'")).first()
        version = int(row[0]) if row is not None else 1
    return f"{version:04d}"


def current_revision(con: sa.Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(con).get_current_revision()


def migrate(engine: Engine, where: str) -> None:
    """Create or upgrade the schema to the head revision (RecordsDBError for a newer database)."""
    known, head = _heads()
    with engine.connect() as con:
        rev = current_revision(con)
        con.rollback()
    if rev == head:
        return
    if rev is not None and rev not in known:
        raise RecordsDBError(f"{where}: records database from a newer aoi-station (schema revision {rev})")
    from alembic import command

    with engine.begin() as con:
        if con.dialect.name == "postgresql":  # two stations starting at once: one migrates, one waits
            con.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
        cfg = _config(con)
        rev = current_revision(con)
        if rev is None:
            legacy = _legacy_revision(con)
            if legacy is not None:
                if legacy not in known:
                    raise RecordsDBError(
                        f"{where}: inspection log from a newer aoi-station (schema {int(legacy)})"
                    )
                command.stamp(cfg, legacy)
        command.upgrade(cfg, "head")


def schema_of(con: sa.Connection) -> int:
    """The schema version a database says it has (Alembic revision, else meta, else SQLite's
    user_version; the highest wins, so a newer aoi-station's mark is never missed); 0 = none."""
    found = [0]
    rev = current_revision(con)
    if rev is not None:
        found.append(int(rev) if rev.isdigit() else SCHEMA_VERSION + 1)
    names = set(sa.inspect(con).get_table_names())
    if "meta" in names:
        row = con.execute(sa.text("SELECT value FROM meta WHERE key = 'schema_version'")).first()
        if row is not None and str(row[0]).isdigit():
            found.append(int(row[0]))
    if con.dialect.name == "sqlite":
        found.append(int(con.exec_driver_sql("PRAGMA user_version").scalar() or 0))
    return max(found)
