"""The GUI's records reads (`app.records_query.reader`, the Records panel's `load_page` every 3 s) go
through one kept read-only engine per store: a constant number of connections however often it
reads, a connection the server cut off replaced at the next read, SQLite still read-only and never in
the writer's way, everything closed at shutdown."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from _tiny_data import inspection_result
from sqlalchemy import event
from sqlalchemy.pool import Pool

from app.panels.records_panel import load_page
from inspection_core.errors import AoiError
from inspection_core.records import InspectionLog, RecordContext
from inspection_core.records.db import READER_APP_NAME, dispose_read_engines, read_engine
from inspection_core.records.query import Filters, RecordsReader

TICKS = 12
PAGE = Filters(limit=200)


@pytest.fixture
def connects() -> Iterator[list[object]]:
    """Every DBAPI connection any SQLAlchemy pool opens (NullPool included) while the test runs."""
    seen: list[object] = []

    def on_connect(dbapi_con: object, _record: object) -> None:
        seen.append(dbapi_con)

    event.listen(Pool, "connect", on_connect)
    yield seen
    event.remove(Pool, "connect", on_connect)
    dispose_read_engines()


def _write(url: str, n: int, first: int = 0) -> None:
    log = InspectionLog(url=url)
    try:
        for i in range(n):
            log.append(inspection_result(first + i, 40 if i % 3 == 0 else None), context=RecordContext())
    finally:
        log.close()


def _backends(pg_url: str) -> list[int]:
    """The pids of the other client sessions on the test database (the readers' kept ones)."""
    with psycopg.connect(pg_url, autocommit=True) as c:
        rows = c.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = 'postgres' AND pid <> pg_backend_pid() "
            "AND backend_type = 'client backend'"
        ).fetchall()
    return [int(r[0]) for r in rows]


def test_repeated_pages_of_a_plant_database_open_one_connection(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, connects: list[object]
) -> None:
    _write(postgres_url, 7)
    monkeypatch.setenv("AOI_RECORDS_URL", postgres_url)
    connects.clear()  # the writer's
    seen: set[int] = set()
    for _ in range(TICKS):
        page = load_page(tmp_path, PAGE)
        assert page.total == 7 and len(page.rows) == 7 and page.ng == 3
        seen.update(_backends(postgres_url))
    # was 4 per page (a new engine, NullPool): 48 logins and backend processes on the server
    assert len(connects) == 1
    assert len(seen) == 1  # the same server session all along, kept open between pages
    with psycopg.connect(postgres_url, autocommit=True) as c:  # named, for the plant's DBA
        row = c.execute("SELECT application_name FROM pg_stat_activity WHERE pid = %s", (*seen,))
        assert row.fetchone() == (READER_APP_NAME,)
    dispose_read_engines()
    assert _backends(postgres_url) == []  # closed at shutdown: nothing left on the server


def test_a_kept_connection_the_server_cut_off_is_replaced_at_the_next_read(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, connects: list[object]
) -> None:
    _write(postgres_url, 5)
    monkeypatch.setenv("AOI_RECORDS_URL", postgres_url)
    connects.clear()
    assert load_page(tmp_path, PAGE).total == 5
    (kept,) = _backends(postgres_url)
    with psycopg.connect(postgres_url, autocommit=True) as c:  # a DBA, a failover, a restart
        assert c.execute("SELECT pg_terminate_backend(%s)", (kept,)).fetchone() == (True,)
    page = load_page(tmp_path, PAGE)  # no error: pool_pre_ping notices and reconnects
    assert page.total == 5 and len(connects) == 2
    (now,) = _backends(postgres_url)
    assert now != kept
    assert load_page(tmp_path, PAGE).total == 5 and len(connects) == 2


def test_a_stopped_server_is_one_error_and_the_next_read_after_it_is_back_works(
    postgres_server, postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, connects
) -> None:  # noqa: ANN001
    _write(postgres_url, 4)
    monkeypatch.setenv("AOI_RECORDS_URL", postgres_url)
    assert load_page(tmp_path, PAGE).total == 4
    postgres_server.pause()
    try:
        with pytest.raises(AoiError, match="not readable") as err:
            load_page(tmp_path, PAGE)
        assert "\n" not in str(err.value)
    finally:
        postgres_server.resume()
    assert load_page(tmp_path, PAGE).total == 4


def test_sqlite_pages_reuse_one_read_only_engine_beside_a_writing_station(
    tmp_path: Path, connects: list[object]
) -> None:
    path = tmp_path / "inspections.sqlite"
    url = f"sqlite:///{path}"
    writer = InspectionLog(path)  # the station, writing all along
    try:
        writer.append(inspection_result(0, None), context=RecordContext())
        assert load_page(tmp_path, PAGE).total == 1
        connects.clear()
        for i in range(1, TICKS):
            writer.append(inspection_result(i, None), context=RecordContext())  # never blocked
            assert load_page(tmp_path, PAGE).total == i + 1  # each page sees the rows written since
        assert connects == []  # no file opened again
        a, b = RecordsReader(tmp_path, shared=True), RecordsReader(tmp_path, shared=True)
        assert a.engine is b.engine is read_engine(url)
        a.close()
        assert b.count() == TICKS  # one reader's close leaves the kept engine to the others
        b.close()
        with pytest.raises(sa.exc.OperationalError, match="readonly"), read_engine(url).begin() as con:
            con.execute(sa.text("DELETE FROM inspections"))
        writer.append(inspection_result(99, None), context=RecordContext())
        assert writer.count() == TICKS + 1
    finally:
        writer.close()
    # the log restored from a copy (another file at the same path): read anew, not the old one
    other = tmp_path / "restored.sqlite"
    _write(f"sqlite:///{other}", 2)
    os.replace(other, path)
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    assert load_page(tmp_path, PAGE).total == 2


def test_the_cli_reader_still_opens_and_closes_its_own_engine(tmp_path: Path) -> None:
    _write(f"sqlite:///{tmp_path / 'inspections.sqlite'}", 3)
    r = RecordsReader(tmp_path)
    try:
        assert r.count() == 3 and r.engine is not read_engine(r.url)
    finally:
        r.close()
        dispose_read_engines()
