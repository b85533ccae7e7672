"""The Records panel, shift/lot counters and recording settings, on records written by the real
Recorder in a temporary station home (AOI_STATION_HOME, set by conftest)."""

from __future__ import annotations

import csv
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from gui_fakes import FakeWeb
from PySide6.QtCore import QDateTime, Qt

import app.panels.records_panel as records_panel
from app.main_window import MainWindow
from app.panels.records_panel import RecordsPanel
from app.recording import records_dir
from app.recording_settings import RecordingSettings, load_settings
from inspection_core.models.bundle import ModelBundle
from inspection_core.postprocess.settings import PostprocessSettings
from inspection_core.records import RecordContext, Recorder
from inspection_core.types import Defect, InspectionResult, Verdict

pytestmark = pytest.mark.gui
WAIT_MS = 60_000
SHOTS = os.environ.get("AOI_SCREENSHOTS")


def _result(fid: int, area: int | None) -> InspectionResult:
    defects = (Defect(1, (2, 3, 12, 14), area, (6.0, 7.0), 0.9, 0.7),) if area else ()
    return InspectionResult(
        frame_id=fid,
        anomaly_map=np.zeros((32, 32), np.float32),
        score=0.8 if area else 0.1,
        verdict=Verdict.NG if area else Verdict.OK,
        mask=np.zeros((32, 32), bool),
        defects=defects,
        model_name="patchcore",
    )


@pytest.fixture
def recorded() -> dict[str, int]:
    """15 records of this station: 6 OK + 3 NG (Tile v2) before `mid_ns`, 4 OK + 2 NG (Sheet v1) after
    it; and one OK record of another station ("line-2")."""
    rng = np.random.default_rng(0)
    rec = Recorder(records_dir(), batch_interval_s=0.05)
    fid = 0
    try:
        for recipe, version, areas in (
            ("Tile", 2, [None] * 6 + [50, 500, 5000]),
            ("Sheet", 1, [None] * 4 + [20, 2000]),
        ):
            if recipe == "Sheet":
                assert rec.flush()
                time.sleep(0.01)
                mid = time.time_ns()
                time.sleep(0.01)
            rec.set_context(
                RecordContext(
                    source="fake",
                    recipe=recipe,
                    recipe_version=version,
                    backend="onnxruntime",
                    image_threshold=0.5,
                )
            )
            for area in areas:
                fid += 1
                assert rec.submit(rng.integers(0, 255, (32, 32), dtype=np.uint8), _result(fid, area))
        rec.set_context(RecordContext(source="cam2", recipe="Sheet", station="line-2"))  # a plant database
        assert rec.submit(None, _result(fid + 1, None))
        assert rec.flush()
    finally:
        rec.close()
    return {"mid_ns": mid}


@pytest.fixture
def panel(qtbot) -> Iterator[RecordsPanel]:
    p = RecordsPanel(records_dir)
    qtbot.addWidget(p)
    p.resize(1200, 700)
    p.show()
    yield p
    p.shutdown()


def _total(p: RecordsPanel) -> int | None:
    return None if p.page is None or p.query.pending or p._debounce.isActive() else p.page.total


def test_filters_paging_thumbnails_and_an_opened_record(
    qtbot, panel: RecordsPanel, recorded, monkeypatch
) -> None:
    panel.refresh()
    qtbot.waitUntil(lambda: _total(panel) == 15, timeout=WAIT_MS)
    assert "OK 10" in panel.status.text() and "NG 5" in panel.status.text()
    panel.verdict.setCurrentText("NG")
    qtbot.waitUntil(lambda: _total(panel) == 5, timeout=WAIT_MS)
    assert {r.verdict for r in panel.model.rows} == {"NG"}
    panel.recipe.setText("Tile")
    qtbot.waitUntil(lambda: _total(panel) == 3, timeout=WAIT_MS)
    panel.min_area.setValue(400)
    qtbot.waitUntil(lambda: _total(panel) == 2, timeout=WAIT_MS)
    assert sorted(r.max_area_px for r in panel.model.rows) == [500, 5000]
    # thumbnails of the saved NG images reach the table
    qtbot.waitUntil(
        lambda: all(r.image_path in panel.model.thumbs for r in panel.model.rows), timeout=WAIT_MS
    )
    icon = panel.model.data(panel.model.index(0, 0), Qt.ItemDataRole.DecorationRole)
    assert icon is not None and not icon.isNull()
    # open the biggest defect: its frame (overlay) and its defect list
    row = [r.max_area_px for r in panel.model.rows].index(5000)
    panel.table.selectRow(row)
    assert panel.view.record is not None and panel.view.record.max_area_px == 5000
    assert panel.view.defects.rowCount() == 1 and panel.view.defects.item(0, 2).text() == "5000"
    assert "Tile v2" in panel.view.info.text() and "backend onnxruntime" in panel.view.info.text()
    qtbot.waitUntil(lambda: panel.view._pixmap is not None, timeout=WAIT_MS)
    # the time range: only what came after the midpoint (the Sheet records)
    panel.recipe.setText("")
    panel.min_area.setValue(0)
    panel.verdict.setCurrentText("all")
    panel.since.setDateTime(QDateTime.fromMSecsSinceEpoch(recorded["mid_ns"] // 1_000_000))
    panel.since_on.setChecked(True)
    qtbot.waitUntil(lambda: _total(panel) == 6, timeout=WAIT_MS)
    assert {r.recipe for r in panel.model.rows} == {"Sheet"}
    panel.until.setDateTime(QDateTime.fromMSecsSinceEpoch(recorded["mid_ns"] // 1_000_000))
    panel.since_on.setChecked(False)
    panel.until_on.setChecked(True)
    qtbot.waitUntil(lambda: _total(panel) == 9, timeout=WAIT_MS)
    # pages: newest first, PAGE_SIZE rows a page
    monkeypatch.setattr(records_panel, "PAGE_SIZE", 4)
    panel.until_on.setChecked(False)
    qtbot.waitUntil(lambda: _total(panel) == 15 and len(panel.model.rows) == 4, timeout=WAIT_MS)
    first = [r.id for r in panel.model.rows]
    assert not panel.prev_button.isEnabled() and panel.next_button.isEnabled()
    panel.next_button.click()
    qtbot.waitUntil(lambda: _total(panel) == 15 and panel.offset == 4, timeout=WAIT_MS)
    second = [r.id for r in panel.model.rows]
    assert max(second) < min(first) and "5–8 of 15" in panel.status.text()
    # another station's records, too (one plant database): the station choice lists the stations
    assert not panel.station.isHidden() and panel.station.currentData() == RecordContext().station
    assert [panel.station.itemData(i) for i in range(panel.station.count())] == [
        RecordContext().station,
        None,
        "line-2",
    ]
    panel.station.setCurrentIndex(panel.station.findData(None))  # all stations
    qtbot.waitUntil(lambda: _total(panel) == 16 and panel.offset == 0, timeout=WAIT_MS)
    assert panel.model.rows[0].station == "line-2"
    panel.station.setCurrentIndex(panel.station.findData("line-2"))
    qtbot.waitUntil(lambda: _total(panel) == 1, timeout=WAIT_MS)
    assert panel.model.rows[0].source == "cam2"


def test_export_writes_the_current_filter_to_csv(
    qtbot, panel: RecordsPanel, recorded, tmp_path: Path
) -> None:
    panel.verdict.setCurrentText("NG")
    panel.min_area.setValue(100)
    out = tmp_path / "ng.csv"
    with qtbot.waitSignal(panel.exported, timeout=WAIT_MS) as sig:
        panel.export_csv(out)
    assert sig.args == [str(out), 3]
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert sorted(int(r["max_area_px"]) for r in rows) == [500, 2000, 5000]
    assert all(r["verdict"] == "NG" and r["defects"].startswith("[") for r in rows)
    # an unwritable target: one clear line, nothing else lost
    with qtbot.waitSignal(panel.failed, timeout=WAIT_MS) as sig:
        panel.export_csv(tmp_path / "missing" / "x.csv")
    assert "cannot write" in sig.args[0] and panel.export_button.isEnabled()


def test_an_empty_station_shows_no_records_not_an_error(qtbot, panel: RecordsPanel) -> None:
    panel.refresh()
    qtbot.waitUntil(lambda: _total(panel) == 0, timeout=WAIT_MS)
    assert panel.status.text() == "no inspections match"


def test_panel_screenshot(qtbot, panel: RecordsPanel, recorded, tmp_path: Path) -> None:
    panel.refresh()
    qtbot.waitUntil(lambda: _total(panel) == 15, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: len(panel.model.thumbs) == 5, timeout=WAIT_MS)
    ng = [r.verdict for r in panel.model.rows].index("NG")
    panel.table.selectRow(ng)
    qtbot.waitUntil(lambda: panel.view._pixmap is not None, timeout=WAIT_MS)
    qtbot.wait(50)
    shot = (Path(SHOTS) if SHOTS else tmp_path) / "records_panel.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    assert panel.grab().save(str(shot)) and shot.stat().st_size > 0
    # nothing clipped: every filter control gets at least the width it asks for
    for w in (
        panel.since,
        panel.until,
        panel.verdict,
        panel.min_area,
        panel.export_button,
        panel.refresh_button,
        panel.station,
    ):
        assert w.width() >= w.minimumSizeHint().width(), type(w).__name__


# --- the live station ---------------------------------------------------------------------------------
def _window(qtbot, bundle: ModelBundle, web: FakeWeb) -> MainWindow:
    def opener(spec: str):  # noqa: ANN202
        def open_it() -> FakeWeb:
            web.open()
            return web

        return open_it

    w = MainWindow(opener_for=opener, device="cpu")
    w.set_bundle(bundle, PostprocessSettings(image_threshold=2.0))
    w.show()
    qtbot.waitExposed(w)
    return w


def _db_counts() -> dict[str, int]:
    con = sqlite3.connect(Path(os.environ["AOI_STATION_HOME"]) / "records" / "inspections.sqlite")
    try:
        d = dict(con.execute("SELECT verdict, COUNT(*) FROM inspections GROUP BY verdict").fetchall())
    finally:
        con.close()
    return {"OK": d.get("OK", 0), "NG": d.get("NG", 0)}


def _run(qtbot, w: MainWindow, web: FakeWeb, n: int) -> None:
    start = w.state.counters.inspected
    w.start("fake")
    qtbot.waitUntil(lambda: w.state.counters.inspected >= start + n, timeout=WAIT_MS)
    web.defects = True
    qtbot.waitUntil(lambda: w.state.counters.ng >= 1, timeout=WAIT_MS)
    web.defects = False
    w.stop()


def _synced(w: MainWindow, kind: str) -> tuple[int, int] | None:
    ui = w.records_ui
    p = ui.shifts.book.periods[kind]
    if p is None or p.base_until_ns is None or ui.query.pending:
        return None
    return p.tally.ok, p.tally.ng


def test_shift_and_lot_counters_survive_a_restart(qtbot, tiny_bundle: ModelBundle, fake_web: FakeWeb) -> None:
    w = _window(qtbot, tiny_bundle, fake_web)
    try:
        with qtbot.waitSignal(w.access.recorded, timeout=WAIT_MS) as sig:  # audited
            assert w.records_ui.shifts.start("shift", "Night A")
        assert (sig.args[0].action, sig.args[0].new) == ("start shift", "Night A")
        assert w.records_ui.shifts.start("lot", "L-17")
        _run(qtbot, w, fake_web, 5)
        db = _db_counts()
        snap = w.state.snapshot()
        # the window counts every inspected result, drawn or not: it matches the records
        assert (snap.ok, snap.ng) == (db["OK"], db["NG"])
        qtbot.waitUntil(lambda: _synced(w, "shift") == (db["OK"], db["NG"]), timeout=WAIT_MS)
        assert _synced(w, "lot") == (db["OK"], db["NG"])
        assert "Night A" in w.records_ui.shifts.names["shift"].text()
    finally:
        w.close()
    fake_web.close()
    # a restart: a new window on the same station home continues the shift and the lot
    w2 = _window(qtbot, tiny_bundle, fake_web)
    try:
        qtbot.waitUntil(lambda: _synced(w2, "shift") == (db["OK"], db["NG"]), timeout=WAIT_MS)
        assert "Night A" in w2.records_ui.shifts.names["shift"].text()
        assert f"{db['OK'] + db['NG']} inspected" in w2.records_ui.shifts.values["shift"].text()
        _run(qtbot, w2, fake_web, 3)
        db2 = _db_counts()
        assert db2["OK"] + db2["NG"] > db["OK"] + db["NG"]
        qtbot.waitUntil(lambda: _synced(w2, "shift") == (db2["OK"], db2["NG"]), timeout=WAIT_MS)
        # the Records dock, opened from the toolbar, lists the same records (floating: the live view
        # keeps its size)
        w2.records_ui.dock.toggleViewAction().trigger()
        panel = w2.records_ui.panel
        qtbot.waitUntil(lambda: _total(panel) == db2["OK"] + db2["NG"], timeout=WAIT_MS)
        assert w2.records_ui.dock.isFloating()
        # a new lot starts from zero; the shift goes on
        assert w2.records_ui.shifts.start("lot", "L-18")
        assert _synced(w2, "lot") == (0, 0) and _synced(w2, "shift") == (db2["OK"], db2["NG"])
        assert not w2.records_ui.shifts.start("lot", "  ")  # a name is needed: refused, said once
        assert "needs a name" in w2.state.notifications[-1][1]
    finally:
        w2.close()


def test_low_disk_pauses_images_with_a_banner_while_inspection_goes_on(
    qtbot, tiny_bundle: ModelBundle, fake_web: FakeWeb
) -> None:
    w = _window(qtbot, tiny_bundle, fake_web)
    ui = w.records_ui
    try:
        w.start("fake")
        qtbot.waitUntil(
            lambda: ui.recorder() is not None and w.state.counters.inspected >= 2, timeout=WAIT_MS
        )
        assert not ui.banner.isVisible()
        # the engineer sets a free-space guard the disk cannot meet: images pause, a banner says so
        assert ui.apply_settings(RecordingSettings(quota_mb=100, min_free_mb=1e12, ok_image_every=0))
        assert ui.banner.isVisible() and "IMAGES NOT SAVED" in ui.banner.text()
        paused_at = time.time_ns()
        n = w.state.counters.inspected
        fake_web.defects = True
        qtbot.waitUntil(
            lambda: w.state.counters.ng >= 3 and w.state.counters.inspected >= n + 3, timeout=WAIT_MS
        )
        # back to a sane guard and OK images sampled: the next saved image takes the banner down
        assert ui.apply_settings(RecordingSettings(quota_mb=100, min_free_mb=0, ok_image_every=1))
        assert not ui.banner.isVisible()
        fake_web.defects = False
        ok = w.state.counters.ok
        qtbot.waitUntil(lambda: w.state.counters.ok >= ok + 2, timeout=WAIT_MS)
        w.stop()
        inspected = w.state.counters.inspected
    finally:
        w.close()
    con = sqlite3.connect(Path(os.environ["AOI_STATION_HOME"]) / "records" / "inspections.sqlite")
    try:
        assert con.execute("SELECT COUNT(*) FROM inspections").fetchone()[0] == inspected  # verdicts kept
        paused_ng = con.execute(
            "SELECT COUNT(*), COUNT(image_path) FROM inspections WHERE verdict='NG' AND time_ns > ?",
            (paused_at,),
        ).fetchone()
        ok_images = con.execute("SELECT COUNT(image_path) FROM inspections WHERE verdict='OK'").fetchone()[0]
    finally:
        con.close()
    assert paused_ng[0] >= 3 and paused_ng[1] < paused_ng[0]  # NG rows without their image while paused
    assert ok_images >= 1  # OK sampling applied to the running recorder
    assert load_settings() == RecordingSettings(quota_mb=100, min_free_mb=0, ok_image_every=1)  # kept


def test_the_query_thread_ends_with_its_owner(qtbot) -> None:
    """Deleted with its parent without shutdown() (a window whose constructor failed): no QThread
    is left running (the leak check of conftest fails the test otherwise)."""
    from PySide6.QtCore import QObject
    from shiboken6 import Shiboken

    from app.records_query import RecordsQuery

    owner = QObject()
    q = RecordsQuery(owner)
    got: list[int] = []
    q.submit(lambda: 41 + 1, got.append)
    qtbot.waitUntil(lambda: got == [42], timeout=WAIT_MS)
    thread = q._thread
    assert thread.isRunning()
    Shiboken.delete(owner)
    assert not thread.isRunning()


def test_bad_settings_and_shift_files_fall_back_and_bad_values_are_refused(tmp_path: Path) -> None:
    from app.recording_settings import save_settings, settings_file
    from app.shifts import ShiftBook, state_file
    from inspection_core.errors import AoiError

    settings_file().parent.mkdir(parents=True, exist_ok=True)
    settings_file().write_text('{"quota_mb": "lots", "ok_image_every": 5}')
    assert load_settings() == RecordingSettings(ok_image_every=5)  # the readable value is kept
    settings_file().write_text("{not json")
    assert load_settings() == RecordingSettings()
    with pytest.raises(AoiError, match="quota"):
        save_settings(RecordingSettings(quota_mb=0))
    state_file().write_text('{"shift": {"name": 3}}')
    book = ShiftBook()
    assert book.periods == {"shift": None, "lot": None}
    book.start("shift", "Early", now_ns=1_000)
    assert ShiftBook().periods["shift"].name == "Early"  # type: ignore[union-attr]


def test_the_settings_dialog_reads_and_returns_the_settings(qtbot) -> None:
    from app.panels.recording_settings_dialog import RecordingSettingsDialog

    d = RecordingSettingsDialog(RecordingSettings(quota_mb=800, min_free_mb=50, ok_image_every=0), "usage")
    qtbot.addWidget(d)
    assert d.ok_every.text() == "never (NG images only)"
    d.ok_every.setValue(10)
    d.quota.setValue(1200)
    assert d.ok_every.text() == "1 in 10 OK parts"
    assert d.settings() == RecordingSettings(quota_mb=1200, min_free_mb=50, ok_image_every=10)


# --- auto-refresh ------------------------------------------------------------------------------------
def _append(n: int, station: str | None = None) -> None:
    """`n` OK rows written by another connection (as the station's recorder does while inspecting)."""
    from inspection_core.records import InspectionLog

    log = InspectionLog(records_dir() / "inspections.sqlite")
    try:
        ctx = RecordContext(source="live", recipe="Tile", **({"station": station} if station else {}))
        first = log.count()
        for i in range(n):
            log.append(_result(first + i + 1, None), context=ctx)
    finally:
        log.close()


def test_new_rows_appear_without_a_click_and_the_selection_stays(qtbot, panel: RecordsPanel) -> None:
    _append(30)
    panel.auto_timer.setInterval(100)
    panel.refresh()
    qtbot.waitUntil(lambda: _total(panel) == 30, timeout=WAIT_MS)
    assert panel.station.isHidden()  # one station in the store: no station choice
    panel.table.selectRow(2)
    chosen = panel.model.rows[2].id
    panel.table.scrollToBottom()
    bottom = panel.model.rows[panel.table.rowAt(panel.table.viewport().height() - 2)].id
    opened: list[object] = []
    panel.recordOpened.connect(opened.append)
    _append(3)  # written after the panel read its page: no click, no refresh() call
    qtbot.waitUntil(lambda: _total(panel) == 33, timeout=WAIT_MS)
    rows = [r.id for r in panel.model.rows]
    assert panel.table.currentIndex().row() == rows.index(chosen) == 5  # the same record, 3 rows down
    assert panel.view.record is not None and panel.view.record.id == chosen and not opened
    assert panel.model.rows[panel.table.rowAt(panel.table.viewport().height() - 2)].id == bottom
    assert "3 new" in panel.status.text()
    # another station's rows arrive: the station choice appears, this station's filter stays
    _append(1, station="line-9")
    qtbot.waitUntil(lambda: not panel.station.isHidden(), timeout=WAIT_MS)
    assert panel.station.findData("line-9") == 2 and _total(panel) == 33
    # closed: no more reads
    panel.close()
    assert not panel.auto_timer.isActive()
    qtbot.waitUntil(lambda: not panel.query.pending, timeout=WAIT_MS)
    _append(2)
    qtbot.wait(500)
    assert _total(panel) == 33 and not panel.query.pending
    panel.shutdown()
    panel.show()
    assert not panel.auto_timer.isActive()  # shut down for good: showing it again starts nothing


def test_a_later_page_holds_still_while_parts_arrive(qtbot, panel: RecordsPanel, monkeypatch) -> None:
    """Reading page 2 while the line runs: new rows do not shift it (they would push every row one
    place down per part); it says how many are new, and page 1 shows them."""
    monkeypatch.setattr(records_panel, "PAGE_SIZE", 10)
    _append(30)
    panel.auto_timer.setInterval(100)
    panel.refresh()
    qtbot.waitUntil(lambda: _total(panel) == 30, timeout=WAIT_MS)
    first = [r.id for r in panel.model.rows]
    panel.next_button.click()
    qtbot.waitUntil(lambda: panel.offset == 10 and panel.model.rows[0].id not in first, timeout=WAIT_MS)
    second = [r.id for r in panel.model.rows]
    assert max(second) < min(first) and "11–20 of 30" in panel.status.text()
    _append(4)
    qtbot.waitUntil(lambda: "4 new (on page 1)" in panel.status.text(), timeout=WAIT_MS)
    assert [r.id for r in panel.model.rows] == second and "11–20 of 30" in panel.status.text()
    panel.next_button.click()  # page 3 is as of the same moment: the 10 oldest rows
    qtbot.waitUntil(lambda: panel.offset == 20 and panel.model.rows[0].id not in second, timeout=WAIT_MS)
    assert max(r.id for r in panel.model.rows) < min(second) and not panel.next_button.isEnabled()
    panel.prev_button.click()
    qtbot.waitUntil(
        lambda: panel.offset == 10 and [r.id for r in panel.model.rows] == second, timeout=WAIT_MS
    )
    panel.prev_button.click()  # page 1 is live: the new rows on top
    qtbot.waitUntil(lambda: panel.offset == 0 and _total(panel) == 34, timeout=WAIT_MS)
    assert [r.id for r in panel.model.rows][4:] == first[:6] and "(on page 1)" not in panel.status.text()
    panel.next_button.click()  # page 2 again, from now: shifted by the 4 once, then still
    qtbot.waitUntil(lambda: panel.offset == 10 and _total(panel) == 34, timeout=WAIT_MS)
    assert [r.id for r in panel.model.rows] == first[6:] + second[:6]


def test_auto_refresh_runs_only_while_shown(qtbot, panel: RecordsPanel) -> None:
    panel.auto_timer.setInterval(50)
    assert panel.auto_timer.isActive()
    panel.hide()
    assert not panel.auto_timer.isActive()
    _append(1)
    qtbot.wait(300)
    assert panel.page is None and not panel.query.pending  # nothing was read while hidden
    panel.show()
    qtbot.waitUntil(lambda: _total(panel) == 1, timeout=WAIT_MS)


# --- one kept connection per store -----------------------------------------------------------------
def test_refreshes_reuse_one_engine_and_shutdown_closes_it(qtbot, panel: RecordsPanel) -> None:
    from inspection_core.records import db

    _append(2)
    panel.auto_timer.setInterval(50)
    panel.refresh()
    qtbot.waitUntil(lambda: _total(panel) == 2, timeout=WAIT_MS)
    engine = db.read_engine(f"sqlite:///{records_dir() / 'inspections.sqlite'}")
    pool = engine.pool
    _append(1)
    qtbot.waitUntil(lambda: _total(panel) == 3, timeout=WAIT_MS)  # more ticks, the same engine
    assert db.read_engine(f"sqlite:///{records_dir() / 'inspections.sqlite'}") is engine
    assert pool.checkedin() == 1 and pool.checkedout() == 0  # one file handle, kept between ticks
    panel.shutdown()  # its own query thread: ended, and the kept connection closed
    assert pool.checkedin() == 0 and db._read_engines == {}


def test_a_plant_database_going_away_shows_the_error_and_the_page_comes_back(
    qtbot, panel: RecordsPanel, postgres_server, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from inspection_core.records import InspectionLog

    monkeypatch.setenv("AOI_RECORDS_URL", postgres_url)
    log = InspectionLog(url=postgres_url)
    try:
        for i in range(4):
            log.append(_result(i + 1, None), context=RecordContext(source="live", recipe="Tile"))
    finally:
        log.close()
    panel.auto_timer.setInterval(100)
    panel.refresh()
    qtbot.waitUntil(lambda: _total(panel) == 4, timeout=WAIT_MS)
    postgres_server.pause()  # the server restarts (or the network is gone) while the panel is open
    try:
        qtbot.waitUntil(lambda: panel.status.text().startswith("error: "), timeout=WAIT_MS)
        assert "not readable" in panel.status.text() and panel.auto_timer.isActive()
    finally:
        postgres_server.resume()
    qtbot.waitUntil(lambda: "of 4, newest first" in panel.status.text(), timeout=WAIT_MS)
