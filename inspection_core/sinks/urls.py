"""Sink URLs and the station's sink configuration (`<station home>/sinks.json`).

mqtt://host[:port]/prefix[?qos=1]      MQTT (results on prefix/<station>/result, status retained)
opcua://0.0.0.0:4840[?security=sign_encrypt]   OPC UA server on this station
folder:PATH[?format=csv]               one JSON per result, or a rolling CSV a day
http://host[:port]/path (https too)    webhook: POST each result's JSON
camera-output:Line1[?width_ms=50&delay_ms=0&mode=user|timer]   reject pulse on the camera's output
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from inspection_core.runtime.atomic import atomic_write_text
from inspection_core.sinks.base import Sink, SinkError

CONFIG_NAME = "sinks.json"
SCHEMES = {
    "mqtt": "mqtt://host[:port]/prefix[?qos=0|1|2]  MQTT: prefix/<station>/result, retained prefix/<station>/status",
    "opcua": "opcua://0.0.0.0:4840[?security=none|sign|sign_encrypt]  OPC UA server: last verdict, score, "
    "counters, recipe, alarm, SwitchRecipe",
    "folder": "folder:PATH[?format=json|csv]  one JSON file per result, or a CSV a day",
    "http": "http(s)://host[:port]/path  webhook: POST each result as JSON",
    "camera-output": "camera-output:LINE[?width_ms=50&delay_ms=0&mode=user|timer]  reject pulse after NG",
}


def make_sink(
    url: str,
    station: str,
    switch_recipe: Callable[[str], str] | None = None,
    node_map: Callable[[], Any] | None = None,
) -> Sink:
    """The sink for `url`; SinkError (one line) for a URL that cannot be one."""
    from inspection_core.sinks.camera_output import CameraOutputSink
    from inspection_core.sinks.folder import FolderSink
    from inspection_core.sinks.mqtt import MqttSink
    from inspection_core.sinks.opcua import OpcUaSink
    from inspection_core.sinks.webhook import WebhookSink

    scheme, sep, rest = url.partition(":")
    scheme = scheme.lower()
    try:
        if not sep or scheme not in SCHEMES and scheme != "https":
            raise ValueError(f"unknown kind {scheme!r} (use {', '.join(SCHEMES)})")
        if scheme == "mqtt":
            return MqttSink(url, station)
        if scheme == "opcua":
            return OpcUaSink(url, station, switch_recipe=switch_recipe)
        if scheme in ("http", "https"):
            return WebhookSink(url)
        path, _, query = rest.partition("?")
        q = {k: v[-1] for k, v in urllib.parse.parse_qs(query).items()}
        if scheme == "folder":
            if not path:
                raise ValueError("folder: needs a path (folder:PATH)")
            return FolderSink(url, Path(path).expanduser(), q.get("format", "json"))
        return CameraOutputSink(
            url,
            node_map,
            line=path or "Line1",
            width_ms=float(q.get("width_ms", 50)),
            delay_ms=float(q.get("delay_ms", 0)),
            mode=q.get("mode", "user"),
        )
    except ValueError as exc:
        raise SinkError(f"bad sink URL {url!r}: {exc}") from exc


def config_path(home: Path) -> Path:
    return home / CONFIG_NAME


def load_urls(home: Path) -> list[str]:
    """The station's configured sink URLs ([] when none); SinkError for a file that is not a list."""
    path = config_path(home)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        raise SinkError(f"{path}: cannot read the sink configuration: {exc}") from exc
    urls = data.get("sinks") if isinstance(data, dict) else None
    if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
        raise SinkError(f'{path}: expected {{"sinks": ["URL", …]}}')
    return urls


def save_urls(home: Path, urls: Sequence[str]) -> None:
    home.mkdir(parents=True, exist_ok=True)
    atomic_write_text(config_path(home), json.dumps({"sinks": list(urls)}, indent=2) + "\n", SinkError)
