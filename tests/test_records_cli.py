"""`aoi records list | export | stats | verify` on a real log written by the Recorder."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from _tiny_data import inspection_result

from inspection_core.cli import main
from inspection_core.records import InspectionLog, RecordContext
from inspection_core.records.query import parse_time
from inspection_core.types import InspectionResult

T0 = parse_time("2026-03-01T03:00:00Z")
HOUR = 3600 * 10**9


def _result(fid: int, area: int | None) -> InspectionResult:
    return inspection_result(fid, area, ng=area is not None or fid == 5)


@pytest.fixture
def records(tmp_path: Path) -> Path:
    """10 inspections: 03:00-03:59Z frames 0-5 (recipe tile), 04:00Z+ frames 6-9 (recipe wood).
    NG: frame 2 (50 px), 5 (image score only, no region), 7 (5000 px) with a saved image."""
    d = tmp_path / "records"
    log = InspectionLog(d / "inspections.sqlite")
    img = d / "ng" / "f7_raw.png"
    img.parent.mkdir(parents=True)
    img.write_bytes(b"png")
    areas = {2: 50, 7: 5000}
    for i in range(10):
        ctx = RecordContext(
            source="sim",
            recipe="tile" if i < 6 else "wood",
            recipe_version=2,
            backend="onnxruntime" if i == 7 else "torch",
            image_threshold=0.5,
            station="s1",
        )
        t = T0 + i * 10**9 if i < 6 else T0 + HOUR + i * 10**9
        log.append(_result(i, areas.get(i)), context=ctx, time_ns=t, image_path=str(img) if i == 7 else None)
    log.close()
    return d


def test_list_filters_and_json(records: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["records", "list", "--records", str(records), "--verdict", "NG", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["frame_id"] for r in out] == [7, 5, 2]  # newest first
    assert out[0]["recipe"] == "wood" and out[0]["defects"][0]["area_px"] == 5000
    assert [r["backend"] for r in out] == ["onnxruntime", "torch", "torch"]
    assert abs(out[0]["margin"] - 0.3) < 1e-9
    args = [
        "records",
        "list",
        "--records",
        str(records),
        "--recipe",
        "tile",
        "--since",
        "2026-03-01T03:00:03Z",
    ]
    assert main([*args, "--until", "2026-03-01T03:00:05Z", "--json"]) == 0
    assert [r["frame_id"] for r in json.loads(capsys.readouterr().out)] == [4, 3]
    assert main(["records", "list", "--records", str(records), "--limit", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("time (local)") and len(lines) == 3 and "wood@2" in lines[1]
    assert lines[0].split()[6] == "backend" and lines[1].split()[5] == "torch"  # "time (local)": 2 words


def test_export_csv_and_jsonl(records: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ng.csv"
    assert main(["records", "export", "--records", str(records), "--format", "csv", "--out", str(out),
                 "--verdict", "ng"]) == 0  # fmt: skip
    rows = list(csv.DictReader(out.open()))
    assert [r["frame_id"] for r in rows] == ["2", "5", "7"]  # oldest first
    assert json.loads(rows[2]["defects"])[0]["area_px"] == 5000 and rows[0]["time_utc"].endswith("Z")
    assert [r["backend"] for r in rows] == ["torch", "torch", "onnxruntime"]
    out = tmp_path / "all.jsonl"
    assert main(["records", "export", "--records", str(records), "--format", "jsonl", "--out", str(out)]) == 0
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(recs) == 10 and recs[0]["station"] == "s1" and recs[7]["backend"] == "onnxruntime"
    assert "10 inspections written" in capsys.readouterr().err


def test_stats_yield_area_buckets_and_hours(records: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["records", "stats", "--records", str(records), "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert (s["count"], s["ok"], s["ng"], s["yield"]) == (10, 7, 3, 0.7)
    assert s["ng_by_area"] == {"no region": 1, "<100 px": 1, "1000-9999 px": 1}
    assert [h["count"] for h in s["per_hour"]] == [6, 4] and [h["ng"] for h in s["per_hour"]] == [2, 1]
    assert main(["records", "stats", "--records", str(records), "--recipe", "wood"]) == 0
    text = capsys.readouterr().out
    assert "inspected 4" in text and "yield 75.00 %" in text


def test_verify_passes_then_fails_on_a_missing_image_and_a_corrupt_file(
    records: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["records", "verify", "--records", str(records)]) == 0
    assert "10 inspections" in capsys.readouterr().out
    (records / "ng" / "f7_raw.png").unlink()
    assert main(["records", "verify", "--records", str(records)]) == 1
    assert "f7_raw.png is missing" in capsys.readouterr().out
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "inspections.sqlite").write_bytes(b"not a database" * 300)
    assert main(["records", "verify", "--records", str(bad)]) == 1
    assert main(["records", "verify", "--records", str(tmp_path / "none")]) == 1
    assert "no inspection log" in capsys.readouterr().out


def test_default_folder_is_the_station_home(
    records: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AOI_STATION_HOME", str(records.parent))
    assert main(["records", "stats", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["count"] == 10


def test_bad_time_is_one_clear_error(records: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["records", "list", "--records", str(records), "--since", "yesterday"]) == 2
    assert "bad time 'yesterday'" in capsys.readouterr().err


def test_a_newer_schema_is_listed_but_fails_verify(records: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import sqlite3

    con = sqlite3.connect(records / "inspections.sqlite")
    con.execute("ALTER TABLE inspections ADD COLUMN lot TEXT")
    con.execute("PRAGMA user_version=99")
    con.commit()
    con.close()
    assert main(["records", "list", "--records", str(records), "--json", "--limit", "1"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["frame_id"] == 9
    assert main(["records", "verify", "--records", str(records)]) == 1
    assert "schema 99 is newer" in capsys.readouterr().out
