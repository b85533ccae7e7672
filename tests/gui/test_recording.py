"""The live station records every inspection: N frames inspected → N rows in the station's log."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from gui_fakes import FakeWeb

from app.main_window import MainWindow
from inspection_core.models.bundle import ModelBundle
from inspection_core.postprocess.settings import PostprocessSettings

pytestmark = pytest.mark.gui
WAIT_MS = 60_000


@pytest.fixture
def window(qtbot, tiny_bundle: ModelBundle, fake_web: FakeWeb) -> Iterator[MainWindow]:
    def opener(spec: str):  # noqa: ANN202
        def open_it() -> FakeWeb:
            fake_web.open()
            return fake_web

        return open_it

    w = MainWindow(opener_for=opener, device="cpu")
    w.set_bundle(tiny_bundle, PostprocessSettings(image_threshold=2.0))
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.close()


def test_every_inspected_frame_is_a_row_after_stop(qtbot, window: MainWindow, fake_web: FakeWeb) -> None:
    window.start("fake")
    qtbot.waitUntil(lambda: window.state.counters.inspected >= 5, timeout=WAIT_MS)
    fake_web.defects = True
    qtbot.waitUntil(lambda: window.state.counters.ng >= 2, timeout=WAIT_MS)
    worker = window.inf.worker  # type: ignore[union-attr]
    window.stop()
    snap = window.state.snapshot()
    db = Path(os.environ["AOI_STATION_HOME"]) / "records" / "inspections.sqlite"
    con = sqlite3.connect(db)
    rows = con.execute("SELECT verdict, COUNT(*) FROM inspections GROUP BY verdict").fetchall()
    # every frame the worker inspected (the window's counters skip results the display coalesced)
    assert sum(n for _, n in rows) == worker.inspected >= snap.inspected and dict(rows)["NG"] >= snap.ng
    source, thr, images = con.execute(
        "SELECT source, image_threshold, COUNT(image_path) FROM inspections WHERE verdict='NG'"
    ).fetchone()
    assert source == "fake" and thr == 2.0 and images >= 1
    assert all(
        Path(p).exists()
        for (p,) in con.execute("SELECT image_path FROM inspections WHERE image_path IS NOT NULL")
    )
    # a second run appends to the same log
    window.start("fake")
    worker2 = window.inf.worker  # type: ignore[union-attr]
    qtbot.waitUntil(lambda: window.state.counters.inspected >= snap.inspected + 3, timeout=WAIT_MS)
    window.stop()
    total = con.execute("SELECT COUNT(*) FROM inspections").fetchone()[0]
    assert total == worker.inspected + worker2.inspected


def test_records_that_cannot_be_written_are_reported_once_per_change(tmp_path: Path) -> None:
    import numpy as np

    from app.recording import StationRecording
    from inspection_core.inspector import Inspector
    from inspection_core.types import Frame, InspectionResult, Verdict

    (tmp_path / "inspections.sqlite").write_bytes(b"not a database" * 300)
    rec = StationRecording("fake", directory=tmp_path)
    inspector = Inspector.__new__(Inspector)  # only .settings is read for the row's thresholds
    inspector.settings = PostprocessSettings()
    frame = Frame(np.zeros((8, 8), np.uint8), 1, 0, "fake")
    result = InspectionResult(1, np.zeros((8, 8), np.float32), 0.1, Verdict.OK, np.zeros((8, 8), bool), ())
    try:
        assert rec.record(frame, result, inspector)
        assert rec.recorder.flush()
        msg = rec.problem()
        # the row is held for when the database can be written again (a repaired file)
        assert msg is not None and "1 spooled to disk" in msg and "not usable" in msg
        assert rec.problem() is None  # nothing new: not repeated
    finally:
        rec.close()
