"""The `aoi` command in a PyInstaller bundle (packaging/aoi-station.spec), testable without a bundle."""

import sys

from inspection_core.cli.model_commands import aoi_command


def test_aoi_command_from_a_venv_runs_the_package(monkeypatch):
    monkeypatch.delattr(sys, "frozen", raising=False)
    assert aoi_command() == [sys.executable, "-m", "inspection_core"]


def test_aoi_command_in_a_bundle_is_the_executable_itself(monkeypatch):
    # the bundle's `aoi` reads every argument as its own: `-m inspection_core` would be an error
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", "/opt/aoi-station/aoi")
    assert aoi_command() == ["/opt/aoi-station/aoi"]
