"""One JSON message per inspection, the same for every sink (MQTT, webhook, folder, OPC UA).

Built from `records.log.record_fields`, so a message and the log's row for the same inspection say the
same thing (verdict, score, margin to the threshold, defects, recipe and version, frame id, times).
"""

from __future__ import annotations

import json
import time
from typing import Any

from inspection_core.records.log import RecordContext, iso_times, record_fields
from inspection_core.types import InspectionResult

SCHEMA = "aoi-station/result/1"
STATUS_SCHEMA = "aoi-station/status/1"


def result_message(
    result: InspectionResult,
    context: RecordContext,
    time_ns: int,
    frame_timestamp_ns: int | None = None,
    test: bool = False,
) -> dict[str, Any]:
    """The message for one result: the log's fields (no image path or note), `time_ns` = the verdict's
    time (epoch ns), `frame_timestamp_ns` = the camera's, and `test` for a "send test message"."""
    msg: dict[str, Any] = {"schema": SCHEMA}
    msg.update(record_fields(result, context, time_ns))
    del msg["image_path"], msg["note"]
    msg["timings_ms"] = msg.pop("timings")
    msg["frame_timestamp_ns"] = frame_timestamp_ns
    if test:
        msg["test"] = True
    return msg


def status_message(station: str, state: str = "online", **fields: Any) -> dict[str, Any]:
    """The station's status (retained on MQTT): online/offline, recipe, alarm, counters."""
    utc, _ = iso_times(time.time_ns())
    return {"schema": STATUS_SCHEMA, "station": station, "state": state, "time_utc": utc, **fields}


def encode(message: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON. NaN/inf are not JSON (a PLC's parser would refuse the message): null."""
    try:
        return json.dumps(message, separators=(",", ":"), allow_nan=False).encode()
    except ValueError:
        return json.dumps(_finite(message), separators=(",", ":"), allow_nan=False).encode()


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
