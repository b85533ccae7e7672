"""Where the station keeps its own files (the cached demo model, snapshots).

`AOI_STATION_HOME` overrides the default so tests and several stations on one machine stay apart.
"""

from __future__ import annotations

import os
from pathlib import Path


def station_home() -> Path:
    """`$AOI_STATION_HOME`, else `$XDG_DATA_HOME/aoi-station`, else `~/.local/share/aoi-station`."""
    env = os.environ.get("AOI_STATION_HOME")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return base / "aoi-station"


def demo_model_dir() -> Path:
    return station_home() / "demo-model"


def snapshot_dir() -> Path:
    return station_home() / "snapshots"
