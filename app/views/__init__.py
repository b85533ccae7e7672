"""pyqtgraph views."""

from app.views.live_view import LiveView

__all__ = ["LiveView"]
