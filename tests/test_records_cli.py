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


def _fill_two_stations(log: InspectionLog, images: Path) -> None:
    """line-1: 4 inspections (1 NG, its image under `images`); line-2: 3 (2 NG); line-3: 1 (NG)."""
    img = images / "ng" / "l1_raw.png"
    img.parent.mkdir(parents=True, exist_ok=True)
    img.write_bytes(b"png")
    plan = [("line-1", None), ("line-2", 40), ("line-1", None), ("line-2", 400), ("line-1", 4000),
            ("line-3", None), ("line-2", None), ("line-1", None)]  # fmt: skip
    for i, (station, area) in enumerate(plan):
        ctx = RecordContext(source="sim", recipe="tile", image_threshold=0.5, station=station)
        path = str(img) if area == 4000 else None
        log.append(_result(i, area), context=ctx, time_ns=T0 + i * 10**9, image_path=path)
    log.close()


def _station_filters(records: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The --station filter of list, export and stats on a store holding several stations."""
    base = ["--records", str(records)]
    assert main(["records", "list", *base, "--station", "line-2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [(r["station"], r["frame_id"]) for r in out] == [("line-2", 6), ("line-2", 3), ("line-2", 1)]
    # repeated and comma-separated: the same two stations
    for opts in (["--station", "line-1", "--station", "line-3"], ["--station", "line-1,line-3"]):
        assert main(["records", "list", *base, *opts, "--json"]) == 0
        assert [r["frame_id"] for r in json.loads(capsys.readouterr().out)] == [7, 5, 4, 2, 0]
    assert main(["records", "list", *base, "--station", "nowhere"]) == 0
    assert "no inspections match" in capsys.readouterr().out
    assert main(["records", "list", *base, "--station", "line-1,"]) == 2
    assert "--station needs a station name" in capsys.readouterr().err
    out_csv = records.parent / "l2.csv"
    assert (
        main(["records", "export", *base, "--station", "line-2", "--format", "csv", "--out", str(out_csv)])
        == 0
    )
    assert [r["frame_id"] for r in csv.DictReader(out_csv.open())] == ["1", "3", "6"]  # oldest first
    capsys.readouterr()
    assert main(["records", "stats", *base, "--station", "line-2", "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert (s["count"], s["ng"]) == (3, 2) and "stations" not in s
    assert main(["records", "stats", *base, "--per-station", "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["count"] == 8 and list(s["stations"]) == ["line-1", "line-2", "line-3"]
    assert [(v["count"], v["ng"]) for v in s["stations"].values()] == [(4, 1), (3, 2), (1, 1)]
    assert main(["records", "stats", *base, "--per-station", "--station", "line-1,line-3"]) == 0
    text = capsys.readouterr().out
    assert "inspected 5" in text and "station line-1:\n  inspected 4" in text
    assert "station line-3:\n  inspected 1" in text and "line-2" not in text


def test_station_filter_on_sqlite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = tmp_path / "records"
    _fill_two_stations(InspectionLog(d / "inspections.sqlite"), d)
    _station_filters(d, capsys)


def test_one_station_uses_the_station_time_index(tmp_path: Path) -> None:
    import sqlite3

    from inspection_core.records.query import Filters, RecordsReader

    d = tmp_path / "records"
    _fill_two_stations(InspectionLog(d / "inspections.sqlite"), d)
    reader = RecordsReader(d)
    try:
        assert reader.stations() == ["line-1", "line-2", "line-3"]
        q = reader.select(Filters(station="line-2", limit=50), newest_first=True)
        sql = str(q.compile(reader.engine, compile_kwargs={"literal_binds": True}))
    finally:
        reader.close()
    con = sqlite3.connect(d / "inspections.sqlite")
    plan = " ".join(str(r[-1]) for r in con.execute(f"EXPLAIN QUERY PLAN {sql}"))
    con.close()
    # the index gives the time order; only ties in time are sorted by id ("RIGHT PART OF ORDER BY")
    assert "USING INDEX inspections_station_time (station=?)" in plan, plan
    assert "TEMP B-TREE FOR ORDER BY" not in plan, plan


def test_station_filter_and_honest_verify_on_postgresql(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AOI_RECORDS_URL", postgres_url)
    d = tmp_path / "records"
    _fill_two_stations(InspectionLog(url=postgres_url), d)
    _station_filters(d, capsys)
    # verify says what it checked on a server, and that the database's own integrity is not its job
    monkeypatch.setenv("AOI_STATION_ID", "line-1")
    assert main(["records", "verify", "--records", str(d)]) == 0
    out = capsys.readouterr().out
    assert "integrity ok" not in out and "integrity_check" not in out
    assert "8 inspections" in out and "server reachable (PostgreSQL" in out
    assert "schema 5 (current), every column present" in out and "1 image(s) of station line-1 present" in out
    assert "note: the database's own integrity" in out and "server's job" in out
    assert main(["records", "verify", "--records", str(d), "--station", "line-2"]) == 0
    assert "no images of station line-2 to check" in capsys.readouterr().out
    (d / "ng" / "l1_raw.png").unlink()
    assert main(["records", "verify", "--records", str(d)]) == 1
    assert "l1_raw.png is missing" in capsys.readouterr().out


def test_verify_on_sqlite_names_its_integrity_check(
    records: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["records", "verify", "--records", str(records)]) == 0
    out = capsys.readouterr().out
    assert "SQLite integrity_check ok" in out and "1 image(s) present" in out and "note:" not in out
