"""What every benchmark JSON records about its own making: the command, when, where, on what device.

Scripts here run as `python benchmarks/NAME.py`, so `from provenance import record, write_json` works.
"""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path
from typing import Any


def record(device: Any = None) -> dict[str, Any]:
    """command / date / host, plus device and torch version when a torch device is given."""
    out: dict[str, Any] = {
        "command": " ".join(["python", *sys.argv]),
        "date": time.strftime("%Y-%m-%d %H:%M:%S%z"),
        "host": platform.node(),
    }
    if device is not None:
        import torch

        from inspection_core.runtime.context import device_label

        out["device"] = device_label(device)
        out["torch"] = torch.__version__
    return out


def write_json(path: str | Path, report: dict[str, Any], indent: int = 1) -> int:
    """Write the report; returns 0 so `return write_json(...)` ends a script's main."""
    with open(path, "w") as fh:
        json.dump(report, fh, indent=indent)
    return 0
