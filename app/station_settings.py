"""The engineer's station settings that are not a recipe's: today the inference backend (issue #27).

Kept in `<station home>/station-settings.json` so the next start uses them (`python -m app --backend`
overrides for one run). Plain Python (no Qt): the headless start reads them before any window exists.
The choices are never a fixed list: `backend_choices()` asks the core what this installation can run.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from app import paths
from inspection_core.errors import AoiError

FILE_NAME = "station-settings.json"
AUTO = "auto"
# how the station names a backend in its messages; a backend missing here is shown by its own name
LABELS = {"torch": "torch", "onnxruntime": "ONNX Runtime", "openvino": "OpenVINO"}


def backend_label(name: str) -> str:
    return LABELS.get(name, name)


def backend_choices() -> list[str]:
    """'auto' and every backend this installation can run (the core's `available_backends`)."""
    from inspection_core.models.backends import available_backends

    return [AUTO, *available_backends()]


@dataclass(frozen=True)
class StationSettings:
    # what runs the model: 'auto' (onnxruntime on a CPU where the model exports, torch on a GPU: the
    # core's resolve_backend), or a backend name
    backend: str = AUTO

    def check(self) -> StationSettings:
        """Self, or AoiError with one line saying which value is wrong."""
        choices = backend_choices()
        if self.backend not in choices:
            raise AoiError(f"unknown inference backend {self.backend!r}; choices: {', '.join(choices)}")
        return self


def settings_file() -> Path:
    return paths.station_home() / FILE_NAME


def load_settings() -> StationSettings:
    """The saved settings; the defaults where the file is missing or a value is unreadable or no longer
    installed (a bad file must never stop the station: it then runs 'auto')."""
    try:
        data: Any = json.loads(settings_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return StationSettings()
    if not isinstance(data, dict) or not isinstance(data.get("backend"), str):
        return StationSettings()
    try:
        return StationSettings(backend=data["backend"]).check()
    except AoiError:
        return StationSettings()


def save_settings(s: StationSettings) -> None:
    """Check and write atomically (AoiError for a bad value or an unwritable station home)."""
    s.check()
    paths.write_settings(settings_file(), asdict(s), "station settings")
