"""Where the station keeps its own files (the cached demo model, snapshots, layout, logs).

All of it lives in the station home (`inspection_core.runtime.home`), the folder the CLI uses too;
`AOI_STATION_HOME` overrides it so tests and several stations on one machine stay apart.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from inspection_core.errors import AoiError
from inspection_core.recipes.store import default_root
from inspection_core.runtime.atomic import atomic_write_text
from inspection_core.runtime.home import ensure_station_home, station_home

__all__ = ["ensure_station_home", "station_home"]


def demo_model_dir() -> Path:
    return station_home() / "demo-model"


def snapshot_dir() -> Path:
    return station_home() / "snapshots"


def recipes_dir() -> Path:
    """$AOI_RECIPES_DIR, else <station home>/recipes: the same store `aoi recipe` opens."""
    return default_root()


def last_session_file() -> Path:
    """The last deployed recipe and source, reopened at the next start."""
    return station_home() / "last-session.json"


def log_dir() -> Path:
    return station_home() / "logs"


def write_settings(path: Path, data: dict[str, Any], what: str) -> None:
    """A settings file written atomically as JSON; AoiError naming `what` where the station home is
    not writable (the settings dialogs show it and keep the old file)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(data, indent=2))
    except OSError as exc:
        raise AoiError(f"cannot save the {what} to {path}: {exc}") from exc
