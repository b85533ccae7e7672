"""Sinks: every inspection result handed to the line (PLC, MES, reject gate) — MQTT, OPC UA, folder,
webhook, camera digital output — each through its own bounded queue and thread, so no receiver can
slow inspection down (see base.py)."""

from inspection_core.sinks.base import Delivery, Sink, SinkError, SinkRunner, SinkState, SinkStats
from inspection_core.sinks.hub import SinkHub
from inspection_core.sinks.message import result_message, status_message
from inspection_core.sinks.urls import SCHEMES, load_urls, make_sink, save_urls

__all__ = [
    "SCHEMES",
    "Delivery",
    "Sink",
    "SinkError",
    "SinkHub",
    "SinkRunner",
    "SinkState",
    "SinkStats",
    "load_urls",
    "make_sink",
    "result_message",
    "save_urls",
    "status_message",
]
