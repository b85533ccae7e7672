"""Windows rules, checked on Linux: GENICAM_GENTL64_PATH splits at ';' and keeps drive letters, the
station home is %LOCALAPPDATA%\\aoi-station, recipe names make valid Windows folders, and neither the
`aoi` command nor the window imports a POSIX-only module. (Nothing here ran on Windows itself.)"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path, PureWindowsPath

import platformdirs
import platformdirs.windows
import pytest

from inspection_core.camera import genicam
from inspection_core.recipe import RecipeError, check_name
from inspection_core.runtime import home

REPO = Path(__file__).resolve().parents[1]
WIN_FOLDERS = {
    "CSIDL_LOCAL_APPDATA": r"C:\Users\op\AppData\Local",
    "CSIDL_APPDATA": r"C:\Users\op\AppData\Roaming",
    "CSIDL_COMMON_APPDATA": r"C:\ProgramData",
}


def test_gentl_path_splits_at_semicolons_and_keeps_drive_letters(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    a, b = tmp_path / "vendor a", tmp_path / "b"
    for folder, cti in ((a, "a.cti"), (b, "b.cti")):
        folder.mkdir()
        (folder / cti).write_bytes(b"")
    monkeypatch.setattr(os, "pathsep", ";")
    # a quoted entry with a space, a padded one, and a vendor folder that is not on this disk
    missing = r"C:\Program Files\Vendor\GenTL\x64"
    monkeypatch.setenv(genicam.ENV_VAR, f'"{a}"; {b} ;{missing};')
    with caplog.at_level(logging.WARNING, logger=genicam.__name__):
        found = genicam.producer_paths(include_viky=False)
    assert found == [a / "a.cti", b / "b.cti"]
    skipped = [r.getMessage() for r in caplog.records]
    assert len(skipped) == 1 and skipped[0].endswith(missing)  # one entry: not split at "C:"


@pytest.fixture
def on_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    """platformdirs answers as on Windows, with the known folders of a user 'op'."""
    monkeypatch.setattr(platformdirs, "PlatformDirs", platformdirs.windows.Windows)
    monkeypatch.setattr(platformdirs.windows, "get_win_folder", WIN_FOLDERS.__getitem__)
    monkeypatch.delenv(home.ENV_HOME, raising=False)
    monkeypatch.delenv("AOI_RECIPES_DIR", raising=False)


def test_station_home_is_local_appdata_on_windows(on_windows: None) -> None:
    got = PureWindowsPath(str(home.station_home()))
    # Local, not Roaming: records, images and models must not travel with a domain user's profile
    assert got == PureWindowsPath(r"C:\Users\op\AppData\Local\aoi-station")
    from inspection_core.recipes.store import default_root

    assert PureWindowsPath(str(default_root())) == got / "recipes"


def test_station_home_override_wins_on_windows(on_windows: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(home.ENV_HOME, r"D:\aoi\line3")
    assert str(home.station_home()) == r"D:\aoi\line3"


@pytest.mark.parametrize("name", ["CON", "nul", "Aux.tile", "COM1", "lpt9.v2", "PRN . x"])
def test_recipe_names_windows_keeps_for_devices_are_refused(name: str) -> None:
    with pytest.raises(RecipeError, match="device names on Windows"):
        check_name(name)


@pytest.mark.parametrize("name", ["Conveyor", "console", "COM10", "NUL2", "aux-line"])
def test_recipe_names_that_only_start_like_a_device_are_fine(name: str) -> None:
    assert check_name(name) == name


def test_aoi_and_the_window_import_no_posix_only_module() -> None:
    """Windows has no resource, fcntl, pwd, grp or termios: blocked here, `aoi` and the window still load."""
    code = """
import sys
BLOCKED = {"resource", "fcntl", "pwd", "grp", "termios"}
for m in BLOCKED:
    sys.modules.pop(m, None)
class Block:
    def find_spec(self, name, path=None, target=None):
        if name in BLOCKED:
            raise ImportError(f"No module named {name!r} (blocked: not on Windows)")
sys.meta_path.insert(0, Block())
from inspection_core.cli import build_parser
build_parser()
import app.main_window, app.__main__, app.about
print("ok")
"""
    env = {**os.environ, "PYTHONPATH": str(REPO), "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]
