"""`kill -9` of the whole running station (issue #24): the records it wrote stay consistent and hold
every inspection up to 1 s before the kill."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from inspection_core.__main__ import main
from inspection_core.models.bundle import ModelBundle

REPO = Path(__file__).resolve().parents[2]


def _rows(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            return int(con.execute("SELECT COUNT(*) FROM inspections").fetchone()[0])
        finally:
            con.close()
    except sqlite3.Error:  # the schema is still being made
        return 0


def test_kill_9_of_the_station_keeps_its_records(tmp_path: Path, tiny_bundle: ModelBundle) -> None:
    model_dir = tiny_bundle.save(tmp_path / "model")
    home = tmp_path / "home"
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "AOI_STATION_HOME": str(home),
        "OMP_NUM_THREADS": "1",
    }
    env.pop("AOI_RECORDS_URL", None)
    cmd = [sys.executable, "-m", "app", "--source", "simulated:256x256", "--model", str(model_dir)]
    cmd += ["--device", "cpu", "--run-for", "120", "--max-wait", "120"]
    station = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    db = home / "records" / "inspections.sqlite"
    try:
        deadline = time.monotonic() + 150
        while _rows(db) < 20:  # the station is up and inspecting
            assert station.poll() is None, station.stderr.read().decode()[-2000:] if station.stderr else ""
            assert time.monotonic() < deadline, "the station recorded nothing in 150 s"
            time.sleep(0.2)
        time.sleep(1.5)
        kill_ns = time.time_ns()
        os.kill(station.pid, signal.SIGKILL)
        station.wait(10)
    finally:
        if station.poll() is None:
            station.kill()
            station.wait(10)
    assert main(["records", "verify", "--records", str(home / "records")]) == 0
    con = sqlite3.connect(db)
    n, newest = con.execute("SELECT COUNT(*), MAX(time_ns) FROM inspections").fetchone()
    con.close()
    assert n >= 20
    # the recorder commits every 0.5 s: what was inspected up to 1 s before the kill is stored
    assert (kill_ns - newest) / 1e9 < 1.0
