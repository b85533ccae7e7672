"""The health line benchmarks/soak.py reads from the running window (`python -m app --samples`)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from app.__main__ import start_sampler
from app.main_window import MainWindow

pytestmark = pytest.mark.gui


def test_sampler_appends_health_lines_and_heartbeat_gaps_are_per_sample(qtbot, tmp_path: Path) -> None:
    w = MainWindow(device="cpu")
    path = tmp_path / "health.jsonl"
    start_sampler(w, path, 0.1, time.perf_counter())
    qtbot.waitUntil(lambda: path.is_file() and len(path.read_text().splitlines()) >= 4, timeout=10_000)
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    w.close()
    keys = {"t_s", "unix_s", "inspected", "dropped", "heartbeat_max_gap_ms", "refcount_true", "refcount_none"}
    assert keys <= set(lines[0])
    assert [x["t_s"] for x in lines] == sorted(x["t_s"] for x in lines)
    # each sample reports the largest gap since the previous one, not since start
    w2 = MainWindow(device="cpu")
    w2.heartbeat.start()
    qtbot.wait(50)
    time.sleep(0.3)  # block the GUI thread once
    qtbot.wait(50)
    first = w2.heartbeat.take_window_gap_ms()
    qtbot.wait(50)
    assert first >= 300 > w2.heartbeat.take_window_gap_ms()
    assert w2.heartbeat.max_gap_ms >= first  # the whole-run maximum is kept
    w2.close()
