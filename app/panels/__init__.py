"""Operator panels; each binds to SessionState signals."""

from app.panels.counters_panel import CountersPanel
from app.panels.ng_strip import NgStrip
from app.panels.notification_area import NotificationArea
from app.panels.overlay_panel import OverlayPanel
from app.panels.source_panel import SourcePanel
from app.panels.status_bar import StationStatusBar
from app.panels.verdict_panel import VerdictPanel

__all__ = [
    "CountersPanel",
    "NgStrip",
    "NotificationArea",
    "OverlayPanel",
    "SourcePanel",
    "StationStatusBar",
    "VerdictPanel",
]
