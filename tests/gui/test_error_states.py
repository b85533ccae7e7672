"""The station fails closed and stays up: a bad model or a bad replay file is an error in the window,
and a headless timed run that proves nothing exits non-zero."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from app.__main__ import EXIT_NO_MODEL, EXIT_NOTHING_INSPECTED
from app.__main__ import main as app_main
from app.main_window import MainWindow
from inspection_core.models.bundle import ModelBundle

pytestmark = pytest.mark.gui
REPO = Path(__file__).resolve().parents[2]
WAIT_MS = 60_000


def _bad_model(tmp_path: Path) -> Path:
    """A folder that looks like a model but is not one (wrong types in model.json)."""
    d = tmp_path / "bad-model"
    d.mkdir()
    (d / "model.json").write_text('{"name": 7, "blocks": [99], "image_size": "big"}')
    return d


def _png_declaring(path: Path, width: int, height: int) -> Path:
    """A 200-byte PNG whose header declares width×height 8-bit grey pixels (and holds a few rows)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * (width + 1) * 4)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


def _run_app(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "AOI_STATION_HOME": str(tmp_path / "home"),
        "OMP_NUM_THREADS": "1",
    }
    cmd = [sys.executable, "-m", "app", "--device", "cpu", *args]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=240)


def test_bad_model_folder_starts_the_window_in_its_error_state(qtbot, tmp_path: Path) -> None:
    seen: dict[str, object] = {}

    def look_then_close() -> None:
        (w,) = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)]
        seen.update(
            visible=w.isVisible(),
            running=w.state.running,
            model=w.state.model_name,
            errors=[m for lvl, m in w.state.notifications if lvl == "error"],
            status=w.statusBar().model.text(),
        )
        w.close()

    QTimer.singleShot(300, look_then_close)
    rc = app_main(["--model", str(_bad_model(tmp_path)), "--device", "cpu"])
    assert rc == 0  # the operator closed it; it did not die
    assert seen["visible"] and not seen["running"]
    assert "NOT INSPECTING" in str(seen["model"]) and "NOT INSPECTING" in str(seen["status"])
    errors = seen["errors"]
    assert isinstance(errors, list) and len(errors) == 1 and "bad-model" in errors[0]
    assert "Traceback" not in errors[0]


def test_loading_a_good_model_leaves_the_error_state(qtbot, tmp_path: Path, tiny_bundle: ModelBundle) -> None:
    w = MainWindow(device="cpu")
    assert not w.load_model(str(_bad_model(tmp_path)))
    assert w.model_error and w.inspector is None
    assert w.load_model(str(tiny_bundle.save(tmp_path / "good")))
    assert w.model_error is None and w.inspector is not None
    assert "NOT INSPECTING" not in w.state.model_name
    w.close()


@pytest.mark.parametrize("name", ["huge.png", "garbage.png"])
def test_unreadable_replay_file_is_an_error_in_the_window(
    qtbot, tmp_path: Path, tiny_bundle: ModelBundle, name: str
) -> None:
    folder = tmp_path / "replay"
    folder.mkdir()
    if name == "huge.png":
        _png_declaring(folder / name, 30_000, 30_000)  # 900 MP declared in 200 bytes
    else:
        (folder / name).write_bytes(os.urandom(4096))
    w = MainWindow(device="cpu")  # the real source picker: replay:PATH
    w.set_bundle(tiny_bundle)
    w.show()
    w.start(f"replay:{folder}")
    qtbot.waitUntil(lambda: w.state.camera_state == "stopped", timeout=WAIT_MS)
    errors = [m for lvl, m in w.state.notifications if lvl == "error"]
    assert errors and any(name in m for m in errors), errors
    assert any("ERROR" in m for m in w.notifications.messages())
    assert not w.state.running and w.state.counters.inspected == 0
    assert w.isVisible()  # the app is alive and can start again
    w.close()


def test_headless_run_with_a_bad_model_exits_non_zero_at_once(tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    proc = _run_app(tmp_path, "--model", str(_bad_model(tmp_path)), "--run-for", "2", "--report", str(report))
    assert proc.returncode == EXIT_NO_MODEL, proc.stderr[-2000:]
    assert "bad-model" in proc.stderr and "Traceback" not in proc.stderr
    assert report.is_file()


def test_headless_run_that_inspects_nothing_exits_non_zero(tmp_path: Path, tiny_bundle: ModelBundle) -> None:
    model = tiny_bundle.save(tmp_path / "model")
    empty = tmp_path / "replay"
    empty.mkdir()
    (empty / "broken.png").write_bytes(b"not a png")
    args = ["--model", str(model), "--source", f"replay:{empty}", "--run-for", "1", "--max-wait", "3"]
    proc = _run_app(tmp_path, *args)
    assert proc.returncode == EXIT_NOTHING_INSPECTED, proc.stderr[-2000:]
    assert "nothing was inspected" in proc.stderr
