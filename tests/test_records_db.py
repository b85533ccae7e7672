"""The records database on SQLite and on a real PostgreSQL server (tests/_pg.py): the same recorder,
queries, `aoi records …` commands and verify; Alembic migrations (also of pre-Alembic schema 1/2
logs); database errors and a killed writer survived."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from _tiny_data import inspection_result, texture, train_tiny

from inspection_core.cli import main
from inspection_core.errors import AoiError
from inspection_core.records import InspectionLog, RecordContext, Recorder
from inspection_core.records.db import SCHEMA_VERSION, make_engine
from inspection_core.records.log import _SCHEMA, default_station_id
from inspection_core.records.query import Filters, RecordsReader
from inspection_core.records.schema import metadata

IMG = (np.random.default_rng(0).random((32, 32)) * 255).astype(np.uint8)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same tests on the default SQLite file and on the throwaway PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'records' / 'inspections.sqlite'}"
    return request.getfixturevalue("postgres_url")


def _ctx(station: str | None = None, recipe: str = "tile") -> RecordContext:
    return RecordContext(
        source="sim",
        camera_serial="SN-42",
        recipe=recipe,
        recipe_version=2,
        model_hash="sha256:abc",
        image_threshold=0.5,
        pixel_threshold=0.4,
        station=station or default_station_id(),
    )


def _fill(directory: Path, url: str, n: int = 12, station: str | None = None) -> Recorder:
    """n results, every 4th NG with its image saved; committed."""
    rec = Recorder(directory, url=url, min_free_mb=0, context=_ctx(station), max_pending_images=100)
    for i in range(n):
        rec.submit(IMG, inspection_result(i, 40 + i if i % 4 == 0 else None))
    assert rec.flush()
    return rec


def test_record_query_and_verify_on_both_databases(db_url: str, tmp_path: Path) -> None:
    d = tmp_path / "records"
    rec = _fill(d, db_url)
    rec.close()
    assert (rec.written, rec.lost, rec.errors, rec.images_saved) == (12, 0, 0, 3)
    reader = RecordsReader(d, url=db_url)
    try:
        assert reader.schema == SCHEMA_VERSION
        recs = list(reader.records(Filters(verdict="NG"), newest_first=True))
        assert [r.frame_id for r in recs] == [8, 4, 0]
        r = recs[0]
        assert (r.camera_serial, r.model_hash, r.recipe_version, r.station) == (
            "SN-42",
            "sha256:abc",
            2,
            default_station_id(),
        )
        assert r.defects[0]["area_px"] == 48 and r.max_area_px == 48 and abs(r.margin - 0.3) < 1e-9
        assert r.image_path and Path(r.image_path).is_file()
        assert reader.counts(Filters()) == {"OK": 9, "NG": 3, "inspected": 12}
        assert reader.count(Filters(min_area_px=44)) == 2
        page = list(reader.records(Filters(limit=5, offset=5)))
        assert [p.frame_id for p in page] == [5, 6, 7, 8, 9]
        s = reader.stats(Filters())
        assert (s["count"], s["ng"], s["ng_by_area"]) == (12, 3, {"<100 px": 3})
        assert reader.verify() == []
        Path(r.image_path).unlink()
        assert reader.verify() == [f"record {r.id}: image {r.image_path} is missing"]
    finally:
        reader.close()


def test_the_cli_reads_the_database_that_aoi_records_url_names(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    d = tmp_path / "records"
    monkeypatch.setenv("AOI_RECORDS_URL", db_url)
    rec = Recorder(d, min_free_mb=0, context=_ctx())  # no url: the environment's
    for i in range(6):
        rec.submit(IMG, inspection_result(i, 50 if i == 3 else None))
    rec.close()
    assert main(["records", "list", "--records", str(d), "--verdict", "NG", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["frame_id"] for r in out] == [3] and out[0]["camera_serial"] == "SN-42"
    assert main(["records", "stats", "--records", str(d), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["count"] == 6
    assert main(["records", "verify", "--records", str(d)]) == 0
    assert "6 inspections" in capsys.readouterr().out
    csv_out = tmp_path / "all.csv"
    assert main(["records", "export", "--records", str(d), "--format", "csv", "--out", str(csv_out)]) == 0
    assert len(csv_out.read_text().splitlines()) == 7


def test_migrations_build_exactly_the_schema_the_queries_use(db_url: str) -> None:
    """Alembic's autogenerate comparison of the migrated database with `records.schema`: no difference
    (a new column added to one but not the other fails here)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    InspectionLog(url=db_url).close()
    engine = make_engine(db_url)
    with engine.connect() as con:
        ctx = MigrationContext.configure(con)
        assert ctx.get_current_revision() == f"{SCHEMA_VERSION:04d}"
        assert compare_metadata(ctx, metadata) == []
        assert con.execute(sa.text("SELECT value FROM meta WHERE key = 'schema_version'")).scalar() == str(
            SCHEMA_VERSION
        )
    engine.dispose()


def _schema2_log(path: Path) -> None:
    """A log as aoi-station wrote it before Alembic: schema 1 DDL, schema 2 columns added, version 2."""
    con = sqlite3.connect(path)
    con.executescript(_SCHEMA)
    for name, kind in (("time_utc", "TEXT"), ("time_local", "TEXT"), ("station", "TEXT"),
                       ("camera_serial", "TEXT"), ("recipe_version", "INTEGER"), ("model_hash", "TEXT"),
                       ("margin", "REAL"), ("image_threshold", "REAL"), ("pixel_threshold", "REAL"),
                       ("alarm", "TEXT"), ("max_area_px", "INTEGER"), ("timings", "TEXT")):  # fmt: skip
        con.execute(f"ALTER TABLE inspections ADD COLUMN {name} {kind}")
    con.execute("CREATE INDEX inspections_recipe ON inspections(recipe)")
    con.execute("INSERT INTO meta VALUES ('schema_version', '2')")
    con.execute("PRAGMA user_version=2")
    con.execute(
        "INSERT INTO inspections (time_ns, frame_id, verdict, n_defects, station, camera_serial, model_hash) "
        "VALUES (1000, 5, 'NG', 0, 'old', 'SN-1', 'h1')"
    )
    con.commit()
    con.close()


def test_a_schema_2_log_from_before_alembic_is_read_then_upgraded(tmp_path: Path) -> None:
    d = tmp_path / "records"
    d.mkdir()
    _schema2_log(d / "inspections.sqlite")
    reader = RecordsReader(d)  # read as it is (read-only: never migrated by a reader)
    assert reader.schema == 2 and [r.camera_serial for r in reader.records(Filters())] == ["SN-1"]
    reader.close()
    rec = Recorder(d, save_ng_images=False, context=_ctx())
    rec.submit(None, inspection_result(6, None))
    rec.close()
    assert rec.written == 1 and rec.last_error is None
    con = sqlite3.connect(d / "inspections.sqlite")
    assert con.execute("SELECT version_num FROM alembic_version").fetchone()[0] == f"{SCHEMA_VERSION:04d}"
    assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    rows = con.execute("SELECT frame_id, station, model_hash FROM inspections ORDER BY id").fetchall()
    assert rows == [(5, "old", "h1"), (6, default_station_id(), "sha256:abc")]
    assert "inspections_station_time" in {r[1] for r in con.execute("PRAGMA index_list(inspections)")}
    assert main(["records", "verify", "--records", str(d)]) == 0


def _schema4_database(url: str) -> None:
    """A database as the station wrote it at schema 4 (Alembic revision 0004), with one row."""
    from alembic import command

    from inspection_core.records.db import _config

    engine = make_engine(url)
    with engine.begin() as con:
        command.upgrade(_config(con), "0004")
        con.execute(
            sa.text(
                "INSERT INTO inspections (time_ns, frame_id, verdict, n_defects, station, model_hash) "
                "VALUES (1000, 5, 'NG', 0, 'old', 'h1')"
            )
        )
    engine.dispose()


def test_a_schema_4_database_upgrades_in_place_and_new_rows_carry_the_backend(
    db_url: str, tmp_path: Path
) -> None:
    """Schema 5 adds `backend` (which runtime judged the part): an old row keeps everything and reads
    as backend None, before the upgrade (a reader never migrates) and after it."""
    d = tmp_path / "records"
    d.mkdir()
    _schema4_database(db_url)
    reader = RecordsReader(d, url=db_url)
    assert reader.schema == 4
    assert [(r.station, r.model_hash, r.backend) for r in reader.records(Filters())] == [("old", "h1", None)]
    reader.close()
    rec = Recorder(d, url=db_url, save_ng_images=False, context=replace(_ctx(), backend="onnxruntime"))
    rec.submit(None, inspection_result(6, None))
    rec.close()
    assert rec.written == 1 and rec.last_error is None
    reader = RecordsReader(d, url=db_url)
    try:
        assert reader.schema == SCHEMA_VERSION == 5
        rows = [(r.frame_id, r.station, r.model_hash, r.backend) for r in reader.records(Filters())]
        assert rows == [(5, "old", "h1", None), (6, default_station_id(), "sha256:abc", "onnxruntime")]
    finally:
        reader.close()
    engine = make_engine(db_url)
    with engine.connect() as con:
        assert con.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == "0005"
        assert con.execute(sa.text("SELECT value FROM meta WHERE key = 'schema_version'")).scalar() == "5"
        if con.dialect.name == "sqlite":
            assert con.exec_driver_sql("PRAGMA user_version").scalar() == 5
    engine.dispose()


def test_a_database_from_a_newer_aoi_station_is_refused_and_survived(db_url: str, tmp_path: Path) -> None:
    InspectionLog(url=db_url).close()
    engine = make_engine(db_url)
    with engine.begin() as con:
        con.execute(sa.text("UPDATE alembic_version SET version_num = '0099'"))
    engine.dispose()
    with pytest.raises(AoiError, match="newer aoi-station"):
        InspectionLog(url=db_url)
    rec = Recorder(tmp_path / "r", url=db_url, save_ng_images=False, reopen_every_s=0.05)
    assert rec.log is None and "newer" in (rec.last_error or "")
    assert rec.submit(None, inspection_result(1, None)) and rec.flush()
    assert rec.alive and rec.stats()["held"] == 1
    rec.close()
    assert rec.lost == 0 and rec.spooled == 1  # never written: kept on disk for an upgraded station
    reader = RecordsReader(tmp_path / "r", url=db_url)
    assert "schema 99 is newer" in reader.verify()[0]
    reader.close()


def test_several_stations_write_one_postgresql_database(postgres_url: str, tmp_path: Path) -> None:
    recs = [_fill(tmp_path / s, postgres_url, n=20, station=s) for s in ("line-1", "line-2")]
    for r in recs:
        r.close()
        assert r.written == 20 and r.lost == 0
    reader = RecordsReader(tmp_path / "line-1", url=postgres_url)
    try:
        rows = list(reader.records(Filters()))
        assert len(rows) == 40 and {r.station for r in rows} == {"line-1", "line-2"}
        # each station checks its own images (the others' are on their disks)
        assert reader.verify(station="line-1") == [] and reader.verify(station="line-2") == []
        assert reader.verify(station="line-1") == reader.verify(station="line-1")
    finally:
        reader.close()


def test_an_unreachable_server_never_blocks_or_kills_the_recorder(tmp_path: Path) -> None:
    from _pg import _free_port

    url = f"postgresql://aoi@127.0.0.1:{_free_port()}/postgres"  # nobody listens there
    rec = Recorder(tmp_path, url=url, save_ng_images=False, reopen_every_s=0.05, lock_timeout_s=1)
    assert rec.log is None and "not usable" in (rec.last_error or "")
    t0 = time.perf_counter()
    assert all(rec.submit(None, inspection_result(i, None)) for i in range(50))
    assert time.perf_counter() - t0 < 0.05
    assert rec.flush(10)
    assert rec.alive and rec.stats()["held"] == 50 and rec.written == 0
    rec.close()
    assert rec.lost == 0 and rec.spooled == 50  # kept on disk for the next start


def test_a_server_that_drops_connections_or_locks_is_survived(postgres_url: str, tmp_path: Path) -> None:
    rec = Recorder(tmp_path, url=postgres_url, save_ng_images=False, lock_timeout_s=0.2, reopen_every_s=0.05)
    rec.submit(None, inspection_result(1, None))
    assert rec.flush() and rec.written == 1
    admin = sa.create_engine(postgres_url.replace("postgresql://", "postgresql+psycopg://"))
    # the server restarts (every session of the recorder is cut off): the next batch reconnects
    with admin.begin() as con:
        con.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE pid <> pg_backend_pid() AND datname = 'postgres'"))  # fmt: skip
    rec.submit(None, inspection_result(2, None))
    assert rec.flush() and rec.alive
    # another client holds the table: the batch waits lock_timeout, is held (not lost), not fatal
    with admin.connect() as con:
        con.execute(sa.text("LOCK TABLE inspections IN EXCLUSIVE MODE"))
        rec.submit(None, inspection_result(3, None))
        assert rec.flush()
        assert rec.alive and rec.errors >= 1 and "lock" in (rec.last_error or "")
        assert rec.stats()["held"] == 1
        con.rollback()
    time.sleep(0.1)
    rec.submit(None, inspection_result(4, None))
    assert rec.flush()
    rec.close()
    admin.dispose()
    log = InspectionLog(url=postgres_url)
    frames = {r.frame_id for r in log.recent()}
    log.close()
    assert frames == {1, 2, 3, 4} and rec.written == 4 and rec.lost == 0


_CHILD = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from inspection_core.records import RecordContext, Recorder
    from inspection_core.types import Defect, InspectionResult, Verdict
    directory, url, rate = sys.argv[1], sys.argv[2], float(sys.argv[3])
    rec = Recorder(directory, url=url, min_free_mb=0, context=RecordContext(source="sim", recipe="tile"))
    img = (np.random.default_rng(0).random((32, 32)) * 255).astype(np.uint8)
    amap = np.zeros((32, 32), np.float32)
    mask = np.zeros((32, 32), bool)
    print("ready", flush=True)
    t0 = time.perf_counter()
    i = 0
    while True:  # like the inference worker: every result with its frame; every 10th part NG
        ng = i % 10 == 0
        d = (Defect(1, (2, 3, 10, 12), 40, (6.0, 7.0), 0.9, 0.7),) if ng else ()
        r = InspectionResult(i, amap, 0.9 if ng else 0.1, Verdict.NG if ng else Verdict.OK, mask, d)
        rec.submit(img, r)
        if i % 20 == 0:
            print(i, time.time_ns(), flush=True)  # submitted up to here, at this time
        i += 1
        while time.perf_counter() - t0 < i / rate:
            time.sleep(0.0005)
    """
)


def test_kill_9_while_recording_loses_nothing_older_than_1_s(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process recording 200 inspections/s (NG images saved) is killed: `aoi records verify` passes
    on the database it wrote, and every inspection up to 1 s before the kill is there, without a gap."""
    d = tmp_path / "records"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(d), db_url, "200"], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        time.sleep(2.0)
        kill_ns = time.time_ns()
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
        # the kill can tear the last line mid-write: keep only the lines that were ended
        progress = [tuple(map(int, line.split())) for line in child.stdout.read().split("\n")[:-1]]
    finally:
        if child.poll() is None:
            child.kill()
    monkeypatch.setenv("AOI_RECORDS_URL", db_url)
    assert main(["records", "verify", "--records", str(d)]) == 0
    engine = make_engine(db_url)
    with engine.connect() as con:
        n, hi, newest = con.execute(
            sa.text("SELECT COUNT(*), MAX(frame_id), MAX(time_ns) FROM inspections")
        ).one()
        ng_images = con.execute(
            sa.text("SELECT COUNT(*) FROM inspections WHERE image_path IS NOT NULL")
        ).scalar()
    engine.dispose()
    assert n == hi + 1  # frames 0..hi, no gap
    # the newest frame the child had submitted 1 s before the kill, by its own report: it is stored
    older = max(i for i, t in progress if t < kill_ns - 1e9)
    print(
        f"kill -9 at 200/s: {n} rows kept, {older} submitted 1 s before, newest {(kill_ns - newest) / 1e6:.0f} ms old"
    )
    assert hi >= older > 50
    assert ng_images >= n // 10 - 1


def test_a_full_disk_pauses_image_saving_not_the_records(
    db_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Below the free-space guard every verdict is still recorded; images pause (said once in the log
    and in `images_paused`, for the station's banner) and resume once there is room again."""
    rec = Recorder(tmp_path / "records", url=db_url, min_free_mb=1e12, context=_ctx())  # no disk has that
    with caplog.at_level("WARNING", logger="inspection_core.records.recorder"):
        t0 = time.perf_counter()
        for i in range(10):
            assert rec.submit(IMG, inspection_result(i, 40))
        submit_s = time.perf_counter() - t0
        assert rec.flush()
        assert rec.written == 10 and rec.images_saved == 0 and rec.images_skipped == 10
        assert rec.images_paused and "not being saved" in rec.images_paused
        assert rec.stats()["images_paused"] == rec.images_paused
        assert rec.store is not None
        rec.store.min_free_mb = 0  # room again
        rec.submit(IMG, inspection_result(10, 40))
        assert rec.flush()
    rec.close()
    assert rec.images_saved == 1 and rec.images_paused is None and rec.written == 11 and rec.alive is False
    msgs = [r.getMessage() for r in caplog.records]
    assert sum("image saving paused" in m for m in msgs) == 1 and sum("resumed" in m for m in msgs) == 1
    assert submit_s < 0.05  # the inference thread never waits for the disk


def test_the_station_records_camera_serial_and_model_hash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """app.recording fills what the issue asks a row to carry: the camera's serial (from the frame,
    GenICam sources set it) and the model's content hash (sha256 of model.json + weights)."""
    import hashlib
    from types import SimpleNamespace

    from app.recording import StationRecording
    from inspection_core.postprocess.settings import PostprocessSettings
    from inspection_core.types import Frame

    monkeypatch.setenv("AOI_STATION_HOME", str(tmp_path / "home"))
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.json").write_bytes(b"{}")
    (model / "model.safetensors").write_bytes(b"w" * 100)
    inspector = SimpleNamespace(
        settings=PostprocessSettings(image_threshold=0.5), bundle=SimpleNamespace(source=model)
    )
    trained_here = SimpleNamespace(settings=inspector.settings, bundle=SimpleNamespace(source=None))
    station = StationRecording("genicam:cam", directory=tmp_path / "records")
    station.record(
        Frame(IMG, 1, 0, "genicam:cam", {"camera_serial": "SN-7"}), inspection_result(1, None), inspector
    )  # type: ignore[arg-type]
    (model / "model.safetensors").write_bytes(b"v" * 101)  # retrained in place: another model
    inspector2 = SimpleNamespace(settings=inspector.settings, bundle=inspector.bundle)
    station.record(
        Frame(IMG, 2, 0, "genicam:cam", {"camera_serial": "SN-8"}), inspection_result(2, None), inspector2
    )  # type: ignore[arg-type]
    station.record(Frame(IMG, 3, 0, "simulated", {}), inspection_result(3, None), trained_here)  # type: ignore[arg-type]
    station.close()
    log = InspectionLog(tmp_path / "records" / "inspections.sqlite")
    rows = {r.frame_id: (r.camera_serial, r.model_hash) for r in log.recent()}
    log.close()
    assert rows == {
        1: ("SN-7", "sha256:" + hashlib.sha256(b"{}" + b"w" * 100).hexdigest()),
        2: ("SN-8", "sha256:" + hashlib.sha256(b"{}" + b"v" * 101).hexdigest()),
        3: ("", ""),
    }


def test_the_station_records_which_backend_judged_each_frame(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A row says which runtime ran the model: torch, then ONNX Runtime after a backend swap (a new
    Inspector on the same model, as `MainWindow.swap_backend` makes), then torch again when the same
    Inspector object is given another bundle (the context must not stay on the old runtime)."""
    pytest.importorskip("onnxruntime")
    from app.recording import StationRecording
    from inspection_core.inspector import Inspector
    from inspection_core.models.backends import with_backend
    from inspection_core.types import Frame

    monkeypatch.setenv("AOI_STATION_HOME", str(tmp_path / "home"))
    bundle = train_tiny()
    frame = texture(np.random.default_rng(1))
    station = StationRecording("sim", directory=tmp_path / "records")

    def record(fid: int, insp: Inspector) -> None:
        f = Frame(frame, fid, 0, "sim", {})
        assert station.record(f, insp.inspect(f), insp)

    on_torch = Inspector(bundle)
    record(1, on_torch)
    on_onnx = Inspector(with_backend(bundle, "onnxruntime"), on_torch.settings, on_torch.preprocessing)
    assert on_onnx.backend == "onnxruntime"
    record(2, on_onnx)
    record(3, on_onnx)
    on_onnx.bundle = with_backend(on_onnx.bundle, "torch")  # the same object, another runtime
    record(4, on_onnx)
    station.close()
    log = InspectionLog(tmp_path / "records" / "inspections.sqlite")
    rows = {r.frame_id: r.backend for r in log.recent()}
    log.close()
    assert rows == {1: "torch", 2: "onnxruntime", 3: "onnxruntime", 4: "torch"}


def test_rows_recorded_while_the_server_is_down_are_written_when_it_is_back(
    postgres_server, postgres_url: str, tmp_path: Path
) -> None:  # noqa: ANN001
    rec = Recorder(tmp_path, url=postgres_url, save_ng_images=False, reopen_every_s=0.05, lock_timeout_s=1)
    rec.submit(None, inspection_result(0, None))
    assert rec.flush() and rec.written == 1
    postgres_server.pause()
    try:
        t0 = time.perf_counter()
        for i in range(1, 21):
            assert rec.submit(None, inspection_result(i, None))
        assert time.perf_counter() - t0 < 0.05  # the caller never waits for the server
        assert rec.flush(15)
        assert rec.alive and rec.stats()["held"] == 20 and rec.errors >= 1 and rec.lost == 0
    finally:
        postgres_server.resume()
    rec.submit(None, inspection_result(21, None))
    assert rec.flush(15)
    rec.close()
    assert (rec.written, rec.lost, rec.stats()["held"]) == (22, 0, 0)
    log = InspectionLog(url=postgres_url)
    assert sorted(r.frame_id for r in log.recent(100)) == list(range(22))
    log.close()
