"""The engineer's recording settings (image quota, free-space guard, OK-image sampling), kept in
`<station home>/recording-settings.json` so the next start and every new run's recorder use them.

Plain Python (no Qt): the inference thread reads them when it opens its recorder, the settings dialog
writes them and applies them to a running recorder at once (three plain attributes, read by the
recorder's writer thread between two rows).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from app import paths
from inspection_core.errors import AoiError

FILE_NAME = "recording-settings.json"


@dataclass(frozen=True)
class RecordingSettings:
    quota_mb: float = 5000.0  # stored images (raw + overlay + JSON); the oldest are deleted first
    min_free_mb: float = 500.0  # below this much free disk, images are not saved (rows still are)
    ok_image_every: int = 0  # save every Nth OK part's image too (0 = NG images only)

    def check(self) -> RecordingSettings:
        """Self, or AoiError with one line saying which value is wrong."""
        if not self.quota_mb > 0:
            raise AoiError(f"image quota must be more than 0 MB (got {self.quota_mb})")
        if not self.min_free_mb >= 0:
            raise AoiError(f"free-space guard must be 0 MB or more (got {self.min_free_mb})")
        if self.ok_image_every < 0:
            raise AoiError(f"OK image sampling must be 0 (off) or every Nth part (got {self.ok_image_every})")
        return self


def settings_file() -> Path:
    return paths.station_home() / FILE_NAME


def load_settings() -> RecordingSettings:
    """The saved settings; the defaults where the file is missing or a value is unreadable (a bad
    file must never stop the station from recording)."""
    try:
        data: Any = json.loads(settings_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return RecordingSettings()
    if not isinstance(data, dict):
        return RecordingSettings()
    kw: dict[str, Any] = {}
    for f in fields(RecordingSettings):
        v = data.get(f.name)
        if isinstance(v, int | float) and not isinstance(v, bool):
            kw[f.name] = int(v) if f.name == "ok_image_every" else float(v)
    try:
        return RecordingSettings(**kw).check()
    except AoiError:
        return RecordingSettings()


def save_settings(s: RecordingSettings) -> None:
    """Check and write atomically (AoiError for a bad value or an unwritable station home)."""
    s.check()
    paths.write_settings(settings_file(), asdict(s), "recording settings")


def apply_to(recorder: Any, s: RecordingSettings) -> None:
    """Make a running Recorder use `s` from its next row on."""
    recorder.ok_image_every = int(s.ok_image_every)
    store = getattr(recorder, "store", None)
    if store is not None:
        store.quota_mb = float(s.quota_mb)
        store.min_free_mb = float(s.min_free_mb)
