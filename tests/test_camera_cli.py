"""`aoi cameras` and `aoi grab` end to end (simulated web, replay, viky)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from inspection_core.cli import main
from inspection_core.data.imageio import imread, read_mask

pytestmark = pytest.mark.camera


def test_cameras_lists_viky_and_other_sources(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cameras", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert {d["serial"] for d in doc["devices"]} >= {"0", "1", "2"}
    assert all(d["producer"].endswith(".cti") for d in doc["devices"])
    assert [s["spec"] for s in doc["other_sources"]] == ["simulated", "replay:PATH"]


def test_cameras_shows_a_skipped_producer_and_lists_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "broken.cti").write_bytes(b"\x7fELF garbage")
    monkeypatch.setenv("GENICAM_GENTL64_PATH", str(tmp_path))
    assert main(["cameras", "--json"]) == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert {d["serial"] for d in doc["devices"]} >= {"0", "1", "2"}
    assert len(doc["warnings"]) == 1 and "broken.cti" in doc["warnings"][0]
    assert "warning: GenTL producer skipped" in captured.err and "broken.cti" in captured.err
    assert main(["cameras"]) == 0
    captured = capsys.readouterr()
    assert "genicam:" in captured.out and "broken.cti" in captured.err


def test_cameras_bad_cti_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cameras", "--cti", str(tmp_path / "nope.cti")]) == 2
    assert "GenTL producer not found" in capsys.readouterr().err


def test_grab_simulated_writes_images_sidecars_and_masks(tmp_path: Path) -> None:
    out = tmp_path / "rec"
    rc = main(
        [
            "grab",
            "--source",
            "simulated:64x48",
            "-n",
            "4",
            "--defect-rate",
            "3",
            "--fps",
            "0",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    sidecars = sorted(out.glob("frame_*[0-9].json"))
    assert len(sidecars) == 4
    for sc in sidecars:
        doc = json.loads(sc.read_text())
        img = imread(sc.with_suffix(".png"))
        assert img.shape == (48, 64) and doc["shape"] == [48, 64]
        assert doc["settings"]["defect_rate"] == 3.0 and "defect_mask" not in doc["meta"]
        if doc["defective"]:
            assert read_mask(out / doc["mask"]).any() and doc["meta"]["defect_types"]
    assert any(json.loads(sc.read_text())["defective"] for sc in sidecars)


def test_grab_replay_round_trips_a_recording(tmp_path: Path) -> None:
    rec = tmp_path / "rec"
    assert main(["grab", "--source", "simulated:32x32", "-n", "2", "--fps", "0", "--out", str(rec)]) == 0
    again = tmp_path / "again"
    assert (
        main(["grab", "--source", f"replay:{rec}", "-n", "2", "--format", "tiff", "--out", str(again)]) == 0
    )
    a, b = imread(rec / "frame_000001.png"), imread(again / "frame_000001.tiff")
    np.testing.assert_array_equal(a, b)


def test_grab_replay_skips_an_unreadable_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rec = tmp_path / "rec"
    assert main(["grab", "--source", "simulated:32x32", "-n", "2", "--fps", "0", "--out", str(rec)]) == 0
    (rec / "frame_000000b.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    capsys.readouterr()
    again = tmp_path / "again"
    assert main(["grab", "--source", f"replay:{rec}", "-n", "3", "--out", str(again)]) == 0
    assert len(list(again.glob("frame_*[0-9].png"))) == 3
    assert "warning: skipped frame_000000b.png" in capsys.readouterr().err


def test_grab_genicam_with_settings(tmp_path: Path) -> None:
    rc = main(
        ["grab", "--source", "genicam", "--camera", "2", "-n", "3", "--pixel-format", "Mono8",
         "--width", "160", "--height", "120", "--out", str(tmp_path)]
    )  # fmt: skip
    assert rc == 0
    doc = json.loads((tmp_path / "frame_000002.json").read_text())
    assert doc["shape"] == [120, 160] and doc["meta"]["pixel_format"] == "Mono8"
    assert doc["settings"]["width"] == 160


def test_grab_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["grab", "--source", "genicam:nope", "-n", "1", "--out", str(tmp_path)]) == 2
    assert "no camera with id or serial 'nope'" in capsys.readouterr().err
    assert main(["grab", "--source", "webcam", "--out", str(tmp_path)]) == 2
    assert "unknown source" in capsys.readouterr().err
