"""The station home: the one folder for recipes, records, images, models, settings and logs.

The GUI and the CLI both resolve it here, so `aoi recipe list` and the window see the same store.
`$AOI_STATION_HOME` overrides the OS's per-user data folder (platformdirs: %LOCALAPPDATA% on Windows,
XDG on Linux), which keeps tests and several stations on one machine apart.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from platformdirs import user_data_dir

from inspection_core.errors import AoiError

ENV_HOME = "AOI_STATION_HOME"
APP_NAME = "aoi-station"


class StationHomeError(AoiError):
    """The station home cannot be created or written (read-only disk, no permission)."""


def station_home() -> Path:
    """`$AOI_STATION_HOME`, else the OS's per-user data folder for aoi-station (not created here)."""
    env = os.environ.get(ENV_HOME)
    if env:
        return Path(env).expanduser()
    return Path(user_data_dir(APP_NAME, appauthor=False))


def ensure_station_home() -> Path:
    """Create the station home if needed and prove it writable, so a bad one fails once at start with
    one clear line instead of later, in the middle of a save."""
    home = station_home()
    try:
        home.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=home):
            pass
    except OSError as exc:
        raise StationHomeError(
            f"station home {home} is not usable ({exc.strerror or exc}); set {ENV_HOME} to a writable folder"
        ) from exc
    return home
