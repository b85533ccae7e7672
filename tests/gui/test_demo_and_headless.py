"""First start fits and caches the demo model in a worker; the headless run writes its report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TINY_OPTIONS
from gui_fakes import FakeWeb

from app import paths
from app.demo import load_cached
from app.main_window import MainWindow
from app.workers.fit import DemoFitWorker
from inspection_core.inspector import Preprocessing
from inspection_core.models.bundle import ModelBundle

pytestmark = pytest.mark.gui
REPO = Path(__file__).resolve().parents[2]


def test_station_home_is_overridable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AOI_STATION_HOME", str(tmp_path / "x"))
    assert paths.demo_model_dir() == tmp_path / "x" / "demo-model"
    monkeypatch.delenv("AOI_STATION_HOME")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert paths.station_home() == tmp_path / "xdg" / "aoi-station"


def test_first_start_fits_caches_then_inspects_and_second_start_is_instant(qtbot, tmp_path: Path) -> None:
    cache = tmp_path / "demo-model"
    train_src, live_src = FakeWeb(128, fps=0), FakeWeb(128, fps=60)

    def open_train() -> FakeWeb:
        train_src.open()
        return train_src

    fit = DemoFitWorker(
        open_train,
        cache,
        n_frames=14,
        fit_kw={"options": TINY_OPTIONS, "preprocessing": Preprocessing(tile=False), "holdout": 4},
    )
    progress: list[str] = []
    fit.progress.connect(lambda stage, step, total: progress.append(stage))
    w = MainWindow(opener_for=lambda spec: lambda: (live_src.open(), live_src)[1], device="cpu", demo_fit=fit)
    w.ensure_demo_model(cache)
    assert w.fit is not None and w.inspector is None
    assert not w.fit_bar.isHidden() and "demo model" in w.fit_bar.format()  # start-up progress shown
    w.start("fake")  # asked before the model exists: starts once it is ready
    assert not w.state.running
    qtbot.waitUntil(lambda: w.state.counters.inspected >= 3, timeout=120_000)
    assert (cache / "model.json").is_file() and (cache / "model.safetensors").is_file()
    assert w.fit_bar.isHidden()  # and gone once the model is ready
    assert {"grab", "features", "calibrate"} <= set(progress)
    assert w.bundle is not None and w.bundle.info["n_frames"] == 14
    w.close()
    w2 = MainWindow(device="cpu")
    w2.ensure_demo_model(cache)
    assert w2.fit is None and w2.bundle is not None  # loaded from the cache, no fit
    assert w2.inspector is not None and w2.state.model_name.startswith("patchcore")
    w2.close()
    # a demo model cached by an older revision of the demo fit is not used: it is refitted
    meta = json.loads((cache / "model.json").read_text())
    meta["info"]["demo_revision"] = 1
    (cache / "model.json").write_text(json.dumps(meta))
    assert load_cached(cache) is None


def test_headless_run_writes_report(tmp_path: Path, tiny_bundle: ModelBundle) -> None:
    model_dir = tiny_bundle.save(tmp_path / "model")
    report = tmp_path / "run.json"
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "AOI_STATION_HOME": str(tmp_path / "home"),
        "OMP_NUM_THREADS": "1",
    }
    cmd = [
        sys.executable,
        "-m",
        "app",
        "--source",
        "simulated:256x256",
        "--model",
        str(model_dir),
        "--device",
        "cpu",
        "--run-for",
        "2",
        "--report",
        str(report),
        "--max-wait",
        "60",
    ]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = json.loads(report.read_text())
    assert doc["inspected"] >= 1 and doc["ok"] + doc["ng"] == doc["inspected"]
    for key in ("dropped", "fps", "latency_ms_median", "latency_ms_p95", "gui_heartbeat_max_gap_ms"):
        assert key in doc
    assert doc["latency_ms_p95"] >= doc["latency_ms_median"] > 0
    assert 2.0 <= doc["wall_s"] < 120
    assert doc["gui_heartbeat_max_gap_ms"] > 0
