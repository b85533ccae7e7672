"""Recorder reliability: batches, a bounded queue that never blocks, database errors survived, and a
bounded loss when the writing process is killed."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from inspection_core.cli import main
from inspection_core.records import InspectionLog, Recorder
from inspection_core.records.log import SCHEMA_VERSION, RecordContext
from inspection_core.types import Defect, InspectionResult, Verdict


def _result(fid: int, ng: bool = False, score: float | None = None) -> InspectionResult:
    defects = (Defect(1, (2, 3, 10, 12), 40, (6.0, 7.0), 0.9, 0.7, 0.25),) if ng else ()
    return InspectionResult(
        frame_id=fid,
        anomaly_map=np.zeros((16, 16), np.float32),
        score=score if score is not None else (0.8 if ng else 0.1),
        verdict=Verdict.NG if ng else Verdict.OK,
        mask=np.zeros((16, 16), bool),
        defects=defects,
        timings={"model": 3.5, "total": 5.25},
        model_name="patchcore",
    )


def test_station_id_is_the_host_name_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    assert RecordContext().station == socket.gethostname()
    monkeypatch.setenv("AOI_STATION_ID", "line-3")
    assert RecordContext().station == "line-3"


def test_rows_carry_what_the_issue_asks_for(tmp_path: Path) -> None:
    ctx = RecordContext(
        source="sim:tile",
        camera_serial="SN1",
        recipe="tile",
        recipe_version=3,
        model_hash="abc",
        image_threshold=0.6,
        pixel_threshold=0.5,
        station="line-2",
    )
    rec = Recorder(tmp_path, context=ctx)
    img = np.zeros((16, 16), np.uint8)
    assert rec.submit(img, _result(7, ng=True, score=0.9))
    rec.close()
    log = InspectionLog(tmp_path / "inspections.sqlite")
    r = log.recent(1)[0]
    assert (r.station, r.source, r.camera_serial, r.frame_id) == ("line-2", "sim:tile", "SN1", 7)
    assert (r.recipe, r.recipe_version, r.model, r.model_hash, r.verdict) == (
        "tile",
        3,
        "patchcore",
        "abc",
        "NG",
    )
    assert abs(r.margin - 0.3) < 1e-9 and (r.image_threshold, r.pixel_threshold) == (0.6, 0.5)
    assert r.defects[0]["bbox"] == [2, 3, 10, 12] and r.defects[0]["area_mm2"] == 0.25
    assert r.defects[0]["max_score"] == 0.9 and r.max_area_px == 40
    assert r.timings == {"model": 3.5, "total": 5.25}
    assert r.time_utc.endswith("Z") and r.time_local[:4] == r.time_utc[:4]
    assert r.image_path and Path(r.image_path).exists()
    con = sqlite3.connect(tmp_path / "inspections.sqlite")
    assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_schema_1_log_is_migrated_keeping_its_rows(tmp_path: Path) -> None:
    p = tmp_path / "old.sqlite"
    con = sqlite3.connect(p)
    from inspection_core.records import log as log_mod

    con.executescript(log_mod._SCHEMA)
    con.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    con.execute("INSERT INTO inspections (time_ns, frame_id, verdict, n_defects) VALUES (1, 5, 'OK', 0)")
    con.commit()
    con.close()
    log = InspectionLog(p)
    log.append(_result(6))
    assert [r.frame_id for r in log.recent()] == [6, 5]
    assert log.recent()[0].timings == {"model": 3.5, "total": 5.25}


def test_batches_commit_within_the_interval_without_a_flush(tmp_path: Path) -> None:
    rec = Recorder(tmp_path, batch_rows=1000, batch_interval_s=0.2)
    for i in range(5):
        rec.submit(None, _result(i))
    reader = InspectionLog(tmp_path / "inspections.sqlite")
    assert reader.count() == 0  # not yet: the batch waits for its interval
    t0 = time.monotonic()
    while reader.count() < 5 and time.monotonic() - t0 < 5:
        time.sleep(0.02)
    waited = time.monotonic() - t0
    assert reader.count() == 5 and waited < 1.0
    rec.close()


def test_a_full_queue_drops_and_counts_instead_of_blocking(tmp_path: Path) -> None:
    rec = Recorder(tmp_path, queue_size=10, batch_interval_s=0.01)
    other = sqlite3.connect(tmp_path / "inspections.sqlite", timeout=0)
    other.execute("BEGIN EXCLUSIVE")  # the writer now waits on the database, as on a stalled disk
    rec.submit(None, _result(0))
    time.sleep(0.2)  # the writer has taken row 0 and waits in its commit
    t0 = time.perf_counter()
    ok = [rec.submit(None, _result(i)) for i in range(1, 101)]
    took = time.perf_counter() - t0
    other.rollback()
    other.close()
    assert rec.flush(15)
    rec.close()
    assert took < 0.1  # 100 submits against a full queue: no waiting
    assert sum(ok) == 10 and rec.dropped == 90
    assert rec.written == 11 and rec.lost == 0


def test_corrupt_database_never_kills_the_writer(tmp_path: Path) -> None:
    p = tmp_path / "inspections.sqlite"
    p.write_bytes(b"this is not a database" * 200)
    rec = Recorder(tmp_path, reopen_every_s=0.05)
    assert rec.log is None and "not usable" in (rec.last_error or "")
    for i in range(10):
        assert rec.submit(None, _result(i))
    assert rec.flush()
    assert rec.alive and rec.stats()["held"] == 10 and rec.lost == 0 and rec.written == 0 and rec.errors >= 1
    # the file is replaced by a good one (an operator restored it): the recorder writes again,
    # the rows it held first
    p.unlink()
    time.sleep(0.1)
    rec.submit(None, _result(11))
    assert rec.flush()
    assert rec.alive and rec.written == 11 and rec.stats()["held"] == 0
    rec.close()
    assert sorted(r.frame_id for r in InspectionLog(p).recent()) == [*range(10), 11]


def test_refused_rows_are_spooled_to_disk_beyond_hold_rows_and_written_by_the_next_recorder(
    tmp_path: Path,
) -> None:
    p = tmp_path / "inspections.sqlite"
    p.write_bytes(b"this is not a database" * 200)
    rec = Recorder(tmp_path, reopen_every_s=0.05, hold_rows=4)
    for i in range(10):
        rec.submit(None, _result(i))
    assert rec.flush()
    s = rec.stats()
    assert (s["held"], s["spooled"], rec.lost, rec.written) == (10, 10, 0, 0)
    rec.close()  # still no database: the rows stay on disk, none lost
    assert rec.lost == 0 and rec.spooled == 10
    p.unlink()  # the operator repaired the database: the next recorder writes the spool first, in order
    rec2 = Recorder(tmp_path, reopen_every_s=0.05, hold_rows=4)
    rec2.submit(None, _result(10))
    assert rec2.flush()
    rec2.close()
    assert (rec2.written, rec2.spooled, rec2.lost) == (11, 0, 0)
    con = sqlite3.connect(p)
    assert [r[0] for r in con.execute("SELECT frame_id FROM inspections ORDER BY id")] == list(range(11))
    assert not (tmp_path / "spool.sqlite").exists()  # drained: deleted, no emptied file left to grow


def test_rows_neither_database_nor_spool_takes_are_held_in_memory_then_lost(tmp_path: Path) -> None:
    p = tmp_path / "inspections.sqlite"
    p.write_bytes(b"this is not a database" * 200)
    rec = Recorder(tmp_path, reopen_every_s=0.05, hold_rows=4)
    (tmp_path / "spool.sqlite").mkdir()  # the spool cannot be created either
    for i in range(10):
        rec.submit(None, _result(i))
    assert rec.flush()
    assert rec.stats()["held"] == 4 and rec.spooled == 0 and rec.lost == 6
    assert "spool" in (rec.last_error or "")
    rec.close()
    assert rec.lost == 10 and rec.stats()["held"] == 0 and rec.written == 0


def test_a_backlog_is_committed_in_full_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows that queued up behind a slow commit (a busy disk, a distant database) are written
    `batch_rows` a commit once the writer gets to them, not one commit each: their interval is long
    over, and committing them one by one made a lagging writer fall further behind."""
    calls: list[int] = []
    gate = threading.Event()
    real = InspectionLog.append_many

    def first_one_slow(self: InspectionLog, rows: list, *args: object, **kwargs: object) -> object:
        calls.append(len(rows))
        if len(calls) == 1:
            gate.wait(30)
        return real(self, rows, *args, **kwargs)

    monkeypatch.setattr(InspectionLog, "append_many", first_one_slow)
    rec = Recorder(tmp_path, save_ng_images=False, batch_rows=100, batch_interval_s=0.2)
    rec.submit(None, _result(0))
    deadline = time.monotonic() + 30
    while not calls and time.monotonic() < deadline:
        time.sleep(0.01)
    for i in range(1, 1001):
        assert rec.submit(None, _result(i))
    time.sleep(0.3)  # the queued rows' interval is over while the first commit still waits
    gate.set()
    assert rec.flush()
    rec.close()
    assert rec.written == 1001 and sum(calls) == 1001
    assert calls[0] == 1 and len(calls) <= 12, calls  # 1000 rows in 10 commits (+1 for a partial batch)


def test_the_spool_leaves_its_floor_of_free_disk(tmp_path: Path) -> None:
    """Below `spool_min_free_mb` free the spool takes nothing (a long outage must not fill the station's
    disk): rows wait in memory, the rest are counted, and the error says why; with room it spools again."""
    p = tmp_path / "inspections.sqlite"
    p.write_bytes(b"this is not a database" * 200)
    rec = Recorder(tmp_path, reopen_every_s=0.05, hold_rows=4, spool_min_free_mb=1e12)  # no disk has that
    for i in range(10):
        rec.submit(None, _result(i))
    assert rec.flush()
    assert (rec.spooled, rec.stats()["held"], rec.lost) == (0, 4, 6)
    assert "MB free" in (rec.last_error or "") and "spool" in (rec.last_error or "")
    assert not (tmp_path / "spool.sqlite").exists()  # not even an empty file
    rec.spool_min_free_mb = 0  # room again: the held rows and the new ones go to disk
    time.sleep(0.3)  # past the spool's retry wait
    rec.submit(None, _result(10))
    deadline = time.monotonic() + 10
    while rec.spooled < 5 and time.monotonic() < deadline:
        rec.flush()
        time.sleep(0.05)
    assert (rec.spooled, rec.lost) == (5, 6)
    rec.close()
    p.unlink()
    rec2 = Recorder(tmp_path)
    assert rec2.flush()
    rec2.close()
    con = sqlite3.connect(p)
    assert [r[0] for r in con.execute("SELECT frame_id FROM inspections ORDER BY id")] == [6, 7, 8, 9, 10]


_HOLD_SPOOL = textwrap.dedent(
    """
    import sys, time
    from inspection_core.records.log import RecordContext, make_row
    from inspection_core.records.spool import Spool
    from inspection_core.types import InspectionResult, Verdict
    import numpy as np
    empty = np.zeros((0, 0), np.float32)
    spool = Spool(sys.argv[1])
    spool.append([make_row(InspectionResult(100 + i, empty, 0.1, Verdict.OK, empty.astype(bool), ()),
                           RecordContext(), 1_000 + i) for i in range(3)])
    print("holding", flush=True)
    time.sleep(600)  # killed here
    """
)


def test_a_spool_another_recorder_holds_is_left_to_it_until_that_process_dies(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Two station processes on one records folder: the second neither replays the first's spooled rows
    (they would be written twice) nor sets its file aside; its own refused rows wait in memory. A kill
    -9 of the holder frees the spool, and the next recorder writes its rows once."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    child = subprocess.Popen(
        [sys.executable, "-c", _HOLD_SPOOL, str(tmp_path / "spool.sqlite")],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "holding"
        p = tmp_path / "inspections.sqlite"
        p.write_bytes(b"this is not a database" * 200)
        rec = Recorder(tmp_path, reopen_every_s=0.05, hold_rows=100)
        assert "held by another recorder" in caplog.text  # logged (last_error then says the log's error)
        for i in range(3):
            rec.submit(None, _result(i))
        assert rec.flush()
        assert (rec.spooled, rec.stats()["held"], rec.lost) == (0, 3, 0)  # in memory
        assert not list(tmp_path.glob("spool.sqlite.bad-*"))  # not set aside: it is the other's
        p.unlink()  # the database is back: this recorder's rows are written, the other's are not
        time.sleep(0.1)
        rec.submit(None, _result(3))
        assert rec.flush()
        rec.close()
        assert rec.written == 4 and rec.lost == 0
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    rec2 = Recorder(tmp_path)  # the holder is gone: its spool is replayed, once, then deleted
    assert rec2.flush()
    rec2.close()
    con = sqlite3.connect(p)
    assert [r[0] for r in con.execute("SELECT frame_id FROM inspections ORDER BY id")] == [
        0,
        1,
        2,
        3,
        100,
        101,
        102,
    ]
    assert not (tmp_path / "spool.sqlite").exists()


def test_the_normal_path_writes_no_spool(tmp_path: Path) -> None:
    rec = Recorder(tmp_path)
    for i in range(5):
        rec.submit(None, _result(i))
    assert rec.flush()
    rec.close()
    assert rec.written == 5 and rec.spooled == 0 and not (tmp_path / "spool.sqlite").exists()


@pytest.mark.parametrize("kind", ["garbage", "foreign"])
def test_a_foreign_or_corrupt_spool_is_set_aside_not_deleted(tmp_path: Path, kind: str) -> None:
    spool = tmp_path / "spool.sqlite"
    if kind == "garbage":
        spool.write_bytes(b"not a spool" * 500)
    else:
        other = sqlite3.connect(spool)
        other.execute("CREATE TABLE parts (x)")
        other.execute("INSERT INTO parts VALUES (1)")
        other.commit()
        other.close()
    before = spool.read_bytes()
    rec = Recorder(tmp_path)
    assert rec.last_error is not None and "spool" in rec.last_error and "kept aside" in rec.last_error
    assert "\n" not in rec.last_error
    (aside,) = tmp_path.glob("spool.sqlite.bad-*")
    assert aside.read_bytes() == before and not spool.exists()
    rec.submit(None, _result(1))
    assert rec.flush()
    rec.close()
    assert rec.written == 1


def test_a_spooled_row_the_database_already_has_is_not_written_twice(tmp_path: Path) -> None:
    """A kill between the database's commit and the spool's cleanup: the next recorder skips the rows
    whose (station, time_ns, frame_id) the database has."""
    from inspection_core.records.log import make_row
    from inspection_core.records.spool import Spool

    rows = [make_row(_result(i), RecordContext(), 1_000 + i) for i in range(6)]
    log = InspectionLog(tmp_path / "inspections.sqlite")
    log.append_many(rows[:4])  # committed, still spooled
    log.close()
    spool = Spool(tmp_path / "spool.sqlite")
    spool.append(rows)
    spool.close()
    rec = Recorder(tmp_path)
    assert rec.flush()
    rec.close()
    assert rec.spooled == 0 and rec.written == 2
    con = sqlite3.connect(tmp_path / "inspections.sqlite")
    assert [r[0] for r in con.execute("SELECT frame_id FROM inspections ORDER BY id")] == list(range(6))


_PG_CHILD = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from inspection_core.records import Recorder
    from inspection_core.types import InspectionResult, Verdict
    rec = Recorder(sys.argv[1], url=sys.argv[2], save_ng_images=False, reopen_every_s=0.05, lock_timeout_s=1)
    empty = np.zeros((0, 0), np.float32)
    for i in range(int(sys.argv[3])):
        rec.submit(None, InspectionResult(i, empty, 0.1, Verdict.OK, empty.astype(bool), ()))
    assert rec.flush(15)
    print(rec.written, rec.spooled, rec.lost, flush=True)
    time.sleep(600)  # killed here, never closed
    """
)


def test_rows_refused_by_a_stopped_server_survive_a_kill(
    postgres_server, postgres_url: str, tmp_path: Path
) -> None:  # noqa: ANN001
    """The plant database is down, the station is killed with rows waiting: a new Recorder, once the
    server is back, writes every row exactly once and empties the spool."""
    InspectionLog(url=postgres_url).close()  # the schema exists, as on a plant database
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    postgres_server.pause()
    try:
        child = subprocess.Popen(
            [sys.executable, "-c", _PG_CHILD, str(tmp_path), postgres_url, "250"],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        try:
            assert child.stdout is not None and child.stdout.readline().split() == ["0", "250", "0"]
            os.kill(child.pid, signal.SIGKILL)
            child.wait(10)
        finally:
            if child.poll() is None:
                child.kill()
    finally:
        postgres_server.resume()
    rec = Recorder(tmp_path, url=postgres_url, save_ng_images=False, hold_rows=100)
    assert rec.flush(15)
    rec.close()
    assert (rec.written, rec.spooled, rec.lost) == (250, 0, 0)
    log = InspectionLog(url=postgres_url)
    assert sorted(r.frame_id for r in log.recent(1000)) == list(range(250))
    log.close()
    assert not (tmp_path / "spool.sqlite").exists()  # drained, then deleted


def test_a_database_that_breaks_mid_run_is_survived_and_reopened(tmp_path: Path) -> None:
    rec = Recorder(tmp_path, reopen_every_s=0.05, lock_timeout_s=0.05)
    rec.submit(None, _result(1))
    assert rec.flush() and rec.written == 1
    # another process locks the database for writing: the batch fails fast, is counted, not fatal
    other = sqlite3.connect(tmp_path / "inspections.sqlite", timeout=0)
    other.execute("BEGIN EXCLUSIVE")
    rec.submit(None, _result(2))
    assert rec.flush()
    assert rec.stats()["held"] == 1 and "locked" in (rec.last_error or "") and rec.alive
    other.rollback()
    other.close()
    rec.submit(None, _result(3))
    time.sleep(0.1)
    rec.submit(None, _result(4))
    assert rec.flush()
    rec.close()
    assert rec.alive is False and rec.written == 4 and rec.lost == 0
    frames = [r.frame_id for r in InspectionLog(tmp_path / "inspections.sqlite").recent()]
    assert sorted(frames) == [1, 2, 3, 4]  # the row refused while locked was written afterwards


_CHILD = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from inspection_core.records import Recorder
    from inspection_core.types import InspectionResult, Verdict
    rec = Recorder(sys.argv[1], save_ng_images=False)
    empty = np.zeros((0, 0), np.float32)
    i = 0
    print("ready", flush=True)
    t0 = time.perf_counter()
    rate = float(sys.argv[2])
    while True:  # `rate` rows/s, until killed
        rec.submit(None, InspectionResult(i, empty, 0.1, Verdict.OK, empty.astype(bool), ()))
        i += 1
        while time.perf_counter() - t0 < i / rate:
            time.sleep(0.0002)
    """
)


@pytest.mark.parametrize("rate", [2000, 40])
def test_kill_9_loses_only_the_last_batch_interval(tmp_path: Path, rate: int) -> None:
    """A process writing `rate` rows/s is killed: afterwards `aoi records verify` passes, the log
    holds rows 0..N without a gap, and its newest row is less than 1 s older than the kill (the stated
    bound: batch_interval_s = 0.5 s plus one commit; at 2,000 rows/s a 100-row batch fills first)."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(tmp_path), str(rate)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        time.sleep(2.0)
        kill_ns = time.time_ns()
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
    assert main(["records", "verify", "--records", str(tmp_path)]) == 0
    con = sqlite3.connect(tmp_path / "inspections.sqlite")
    n, hi, newest = con.execute("SELECT COUNT(*), MAX(frame_id), MAX(time_ns) FROM inspections").fetchone()
    assert n > rate and hi == n - 1  # every row up to the newest one is there
    gap_s = (kill_ns - newest) / 1e9
    print(f"kill -9 at {rate} rows/s: {n} rows kept, newest {gap_s * 1000:.0f} ms before the kill")
    assert gap_s < 1.0


def test_an_image_that_cannot_be_saved_keeps_its_row(tmp_path: Path) -> None:
    rec = Recorder(tmp_path)
    rec.submit("not an image", _result(1, ng=True))  # type: ignore[arg-type]
    assert rec.flush()
    rec.close()
    assert rec.written == 1 and rec.images_skipped == 1 and "not saved" in (rec.last_error or "")


def test_image_quota_deletes_the_oldest_and_the_log_says_so(tmp_path: Path) -> None:
    img = (np.random.default_rng(0).random((64, 64)) * 255).astype(np.uint8)
    rec = Recorder(tmp_path, min_free_mb=0, quota_mb=0.03)  # room for about two sets of 64x64 noise
    for i in range(6):
        rec.submit(img, _result(i, ng=True))
        assert rec.flush()  # one by one, so each set is saved (max_pending_images is not the limit)
    rec.close()
    assert rec.images_saved == 6 and 1 <= len(list((tmp_path / "images").rglob("*_raw.png"))) <= 3
    assert rec.store is not None and rec.store.used_bytes <= 0.03e6 and rec.store.deleted >= 3
    recs = InspectionLog(tmp_path / "inspections.sqlite").recent()
    kept = [r for r in recs if r.image_path]
    assert recs[0].image_path and all(Path(r.image_path).exists() for r in kept)
    assert {r.note for r in recs if not r.image_path} == {"image removed by retention"}
    assert main(["records", "verify", "--records", str(tmp_path)]) == 0
    # a restarted recorder knows the sets already on disk
    rec2 = Recorder(tmp_path, min_free_mb=0, quota_mb=0.03)
    assert rec2.store is not None and rec2.store.used_bytes == rec.store.used_bytes
    rec2.close()


def test_ok_images_are_sampled_at_the_set_rate(tmp_path: Path) -> None:
    img = np.zeros((16, 16), np.uint8)
    rec = Recorder(tmp_path, min_free_mb=0, ok_image_every=3, max_pending_images=100)
    for i in range(9):
        rec.submit(img, _result(i))
    rec.close()
    rows = InspectionLog(tmp_path / "inspections.sqlite").recent()
    assert sorted(r.frame_id for r in rows if r.image_path) == [0, 3, 6] and rec.images_saved == 3


_FULL_CHILD = textwrap.dedent(
    """
    import json, resource, signal, sys, time
    import numpy as np
    from inspection_core.records import Recorder
    from inspection_core.types import InspectionResult, Verdict
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
    rec = Recorder(sys.argv[1], min_free_mb=0, reopen_every_s=0.05)
    resource.setrlimit(resource.RLIMIT_FSIZE, (300_000, 300_000))  # the "disk" holds 300 kB a file
    empty = np.zeros((0, 0), np.float32)
    img = (np.random.default_rng(0).random((128, 128)) * 255).astype(np.uint8)
    worst = 0.0
    for i in range(20_000):
        ng = i % 50 == 0
        r = InspectionResult(i, np.zeros((128, 128), np.float32), 0.9 if ng else 0.1,
                             Verdict.NG if ng else Verdict.OK, np.zeros((128, 128), bool), ())
        t = time.perf_counter()
        rec.submit(img if ng else None, r)
        worst = max(worst, time.perf_counter() - t)
        if i % 2000 == 0:
            rec.flush(30)
    rec.flush(30)
    alive = rec.alive
    rec.close()
    print(json.dumps({**rec.stats(), "alive": alive, "worst_submit_s": worst}))
    """
)


def test_a_full_disk_is_counted_and_survived(tmp_path: Path) -> None:
    """The files may grow to 300 kB (RLIMIT_FSIZE): the log fills up, the recorder keeps going, counts
    what it could not write, and what it did write stays intact."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    out = subprocess.run(
        [sys.executable, "-c", _FULL_CHILD, str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    s = json.loads(out.stdout.strip().splitlines()[-1])
    print(
        f"full disk: {s['written']} written, {s['lost']} lost, worst submit {s['worst_submit_s'] * 1e3:.1f} ms"
    )
    assert s["alive"] and s["written"] > 0 and s["lost"] > 0 and s["errors"] > 0
    # what neither the log nor the spool (also 300 kB) could take is lost, and counted
    assert s["written"] + s["lost"] + s["dropped"] + s["spooled"] == 20_000
    assert "full" in s["last_error"] or "disk" in s["last_error"] or "I/O" in s["last_error"]
    # never waits for the disk; its worst (60-90 ms, one call) is a full garbage collection of the process
    assert s["worst_submit_s"] < 0.5
    con = sqlite3.connect(tmp_path / "inspections.sqlite")
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert con.execute("SELECT COUNT(*) FROM inspections").fetchone()[0] == s["written"]
    spool = tmp_path / "spool.sqlite"  # what the spool says it holds, it holds (none: no file)
    held = sqlite3.connect(spool).execute("SELECT COUNT(*) FROM spool").fetchone()[0] if spool.exists() else 0
    assert held == s["spooled"]
