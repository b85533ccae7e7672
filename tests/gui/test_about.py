"""Help → About in the main window: version, revision, torch and Qt, copyable for a bug report."""

from __future__ import annotations

import PySide6
import pytest
import torch
from PySide6.QtCore import qVersion
from PySide6.QtWidgets import QApplication

from app.main_window import MainWindow
from inspection_core.runtime.version import package_version, revision

pytestmark = pytest.mark.gui


def test_help_about_shows_versions_and_copies_them(qtbot) -> None:  # noqa: ANN001
    w = MainWindow(device="cpu")
    help_menu = next(a.menu() for a in w.menuBar().actions() if a.text() == "&Help")
    assert w.about_action in help_menu.actions()
    w.about_action.trigger()
    dialog = w.about_dialog
    qtbot.waitUntil(dialog.isVisible, timeout=5000)
    text = dialog.text.toPlainText()
    assert f"aoi-station {package_version()}" in text
    rev = revision()
    assert rev is None or f"(git {rev})" in text
    assert f"torch {torch.__version__}" in text
    assert f"Qt {qVersion()} (PySide6 {PySide6.__version__}" in text
    assert "station home " in text
    QApplication.clipboard().clear()
    dialog.copy_button.click()
    assert QApplication.clipboard().text() == text
    dialog.close()
    w.close()


def test_aoi_station_version_prints_the_about_lines_without_a_window(tmp_path) -> None:  # noqa: ANN001
    import os
    import subprocess
    import sys
    from pathlib import Path

    home = tmp_path / "home"
    env = {**os.environ, "AOI_STATION_HOME": str(home), "QT_QPA_PLATFORM": "offscreen"}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    proc = subprocess.run(
        [sys.executable, "-m", "app", "--version"], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(f"aoi-station {package_version()}")
    assert lines[1].startswith(f"torch {torch.__version__}")
    assert f"Qt {qVersion()} (PySide6 {PySide6.__version__})" in lines
    assert not home.exists()  # a version query creates no station home
