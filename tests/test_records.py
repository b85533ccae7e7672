"""Inspection log, NG image store and the background recorder: nothing lost, a full disk reported."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _tiny_data import inspection_result

from inspection_core.records import InspectionLog, NGImageStore, Recorder
from inspection_core.records.store import DiskFullError
from inspection_core.types import InspectionResult


def _result(fid: int, ng: bool) -> InspectionResult:
    return inspection_result(fid, 40 if ng else None)


def test_log_appends_counts_and_reopens(tmp_path: Path) -> None:
    log = InspectionLog(tmp_path / "log.sqlite")
    for i in range(5):
        log.append(_result(i, ng=i % 2 == 1), source="sim", recipe="tile")
    log.audit("deploy", {"recipe": "tile", "version": 2}, user="eng")
    log.close()
    log = InspectionLog(tmp_path / "log.sqlite")
    assert log.counts() == {"OK": 3, "NG": 2, "inspected": 5}
    ng = log.recent(verdict="NG")
    assert [r.frame_id for r in ng] == [3, 1]
    assert ng[0].defects[0]["area_px"] == 40 and ng[0].recipe == "tile"
    assert log.audit_trail()[0][2:] == ("deploy", {"recipe": "tile", "version": 2})


def test_corrupt_log_is_a_clear_error(tmp_path: Path) -> None:
    p = tmp_path / "log.sqlite"
    p.write_bytes(b"this is not a database" * 100)
    from inspection_core.errors import AoiError

    with pytest.raises(AoiError, match="not usable"):
        InspectionLog(p)


def test_ng_store_refuses_when_disk_is_nearly_full(tmp_path: Path) -> None:
    store = NGImageStore(tmp_path / "ng", min_free_mb=1e12)  # more than any disk has
    with pytest.raises(DiskFullError, match="not being saved"):
        store.save(np.zeros((16, 16), np.uint8), _result(1, True))


def test_recorder_writes_every_result_and_keeps_going_on_a_full_disk(tmp_path: Path) -> None:
    rec = Recorder(tmp_path / "rec")
    img = (np.random.default_rng(0).random((16, 16)) * 255).astype(np.uint8)
    for i in range(20):
        rec.submit(img, _result(i, ng=i % 4 == 0), source="sim")
    assert rec.flush()
    assert rec.written == 20 and rec.images_saved == 5
    assert len(list((tmp_path / "rec" / "images").rglob("*_raw.png"))) == 5
    rec.store.min_free_mb = 1e12  # the disk "fills up"
    rec.submit(img, _result(99, ng=True))
    assert rec.flush()
    assert rec.written == 21 and rec.images_skipped == 1
    assert "not being saved" in (rec.last_error or "")
    row = rec.log.recent(1)[0]
    assert row.frame_id == 99 and row.image_path is None
    rec.close()
