"""Which aoi-station this is: version, source revision, torch and the device, for bug reports.

`aoi --version` and the window's Help → About show the same lines. A checkout names its revision with
`git describe`; a built bundle has no .git, so packaging/build.sh stamps the revision it was built from
into `aoi-station-build.json` beside the bundled code (PyInstaller's `sys._MEIPASS`).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

BUILD_STAMP = "aoi-station-build.json"


def git_revision(root: Path | None = None) -> str | None:
    """`git describe` of the checkout this package runs from; None when installed from a wheel."""
    root = root or Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        return None
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def bundle_dir() -> Path | None:
    """The folder of a PyInstaller bundle's code and data; None when not run from a bundle."""
    base = getattr(sys, "_MEIPASS", None)
    return Path(base) if getattr(sys, "frozen", False) and base else None


def build_stamp(folder: Path | None = None) -> dict[str, Any] | None:
    """The build-time stamp of a bundle (version, git revision, build time); None outside a bundle or
    when the stamp is missing or unreadable (the version lines then just lack the revision)."""
    folder = folder or bundle_dir()
    if folder is None:
        return None
    try:
        data = json.loads((folder / BUILD_STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def package_version() -> str:
    """The installed distribution's version, else the package's own (a checkout never installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("aoi-station")
    except PackageNotFoundError:
        from inspection_core import __version__

        return __version__


def revision() -> str | None:
    """The checkout's `git describe`, else the revision a bundle was built from."""
    rev = git_revision()
    if rev:
        return rev
    stamp = build_stamp()
    return str(stamp["git"]) if stamp and stamp.get("git") else None


def torch_line() -> str:
    """torch's version and what it computes on (imports torch: only when asked)."""
    import torch

    if torch.cuda.is_available():
        gpu = f"CUDA {torch.version.cuda}, {torch.cuda.get_device_name(0)}"
    elif torch.version.cuda:
        gpu = f"built for CUDA {torch.version.cuda}, no GPU found: CPU"
    else:
        gpu = "CPU only"
    return f"torch {torch.__version__} ({gpu})"


def version_lines() -> list[str]:
    """aoi-station and its revision, torch and the device, Python (and "bundle" when frozen)."""
    rev = revision()
    first = f"aoi-station {package_version()}" + (f" (git {rev})" if rev else "")
    if bundle_dir() is not None:
        stamp = build_stamp() or {}
        first += f" [bundle built {stamp['built_at']}]" if stamp.get("built_at") else " [bundle]"
    return [first, torch_line(), f"python {sys.version.split()[0]}"]
