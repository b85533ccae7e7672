"""aoi-station's desktop program (PySide6 + pyqtgraph). All Qt lives here; the core never imports it."""

__all__: list[str] = []
