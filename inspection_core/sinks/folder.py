"""Folder sink: one JSON file per result (`<frame time>_<frame id>_<verdict>.json`), or a rolling CSV
(`results-YYYYMMDD.csv`, one file a day, a header in each). For an MES that polls a share."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

from inspection_core.runtime.atomic import atomic_write_bytes
from inspection_core.sinks.base import Delivery, Sink

CSV_COLUMNS = (
    "time_utc",
    "station",
    "frame_id",
    "verdict",
    "score",
    "margin",
    "recipe",
    "recipe_version",
    "model",
    "alarm",
    "n_defects",
    "max_area_px",
    "defects",
)


class FolderSink(Sink):
    """`folder:PATH` (JSON files) or `folder:PATH?format=csv`. A JSON file appears whole (written
    aside and renamed), so a reader polling the folder never sees half a message."""

    scheme = "folder"

    def __init__(self, url: str, path: str | Path, fmt: str = "json") -> None:
        super().__init__(url)
        self.path = Path(path)
        if fmt not in ("json", "csv"):
            raise ValueError(f"folder sink: format must be json or csv, not {fmt!r}")
        self.fmt = fmt

    def open(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        if not os.access(self.path, os.W_OK):
            raise PermissionError(f"folder {self.path} is not writable")

    def send(self, delivery: Delivery) -> None:
        if delivery.kind == "status":
            return  # results only: a status file would be rewritten for nothing
        m = delivery.message
        if self.fmt == "json":
            stamp = m["time_utc"].replace(":", "").replace("-", "")
            name = f"{stamp}_{m['frame_id']}_{m['verdict']}{'_test' if m.get('test') else ''}.json"
            atomic_write_bytes(self.path / name, delivery.data)
            return
        day = m["time_utc"][:10].replace("-", "")
        target = self.path / f"results-{day}.csv"
        buf = io.StringIO()
        w = csv.writer(buf)
        if not target.exists():
            w.writerow(CSV_COLUMNS)
        row = {**m, "defects": json.dumps(m["defects"], separators=(",", ":"))}
        w.writerow(["" if row.get(c) is None else row.get(c) for c in CSV_COLUMNS])
        with target.open("a", encoding="utf-8", newline="") as fh:
            fh.write(buf.getvalue())
